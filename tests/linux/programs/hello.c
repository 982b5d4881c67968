/* The smallest program: output, arguments, environment and an exit status. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("hello from %d args:", argc);
    for (int i = 1; i < argc; i++)
        printf(" [%s]", argv[i]);
    const char *v = getenv("VM_TEST_VALUE");
    printf("\nenv %s\n", v ? v : "(unset)");
    return argc + 40;
}
