/* A small program to debug: a function called in a loop, a global counter, an exit status. */
#include <stdio.h>

int counter;

int square(int x) {
    counter++;
    return x * x;
}

int main(void) {
    int sum = 0;
    for (int i = 1; i <= 4; i++) sum += square(i);
    printf("sum %d\n", sum);
    return sum;
}
