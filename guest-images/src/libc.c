/* A hosted C program on picolibc over semihosting (arm64 and riscv64).
 *
 * Reads a text file (argv[1], default "input.txt"), counts its bytes, lines and words, computes its
 * CRC-32, writes an upper-case copy (argv[2], default "output.txt"), reads that copy back to check
 * it, and prints:
 *   libc: read <name>: <bytes> bytes, <lines> lines, <words> words, crc32 <8 hex>
 *   libc: wrote <name>: <bytes> bytes, crc32 <8 hex>
 * Exit status: the number of lines (at most 99); 101 when the input cannot be read, 102 when the
 * output cannot be written, 103 when the copy reads back wrong.
 * File names resolve on the host: under QEMU from its working directory, under vm from
 * --semihosting-root.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc32_bytes(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

/* The whole file in a malloc'd buffer (NUL-terminated), its size in *size; NULL on failure. */
static unsigned char *read_file(const char *name, long *size)
{
    FILE *f = fopen(name, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (*size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)*size + 1);
        if (data && fread(data, 1, (size_t)*size, f) != (size_t)*size) {
            free(data);
            data = NULL;
        }
        if (data)
            data[*size] = 0;
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    const char *in_name = argc > 1 ? argv[1] : "input.txt";
    const char *out_name = argc > 2 ? argv[2] : "output.txt";

    long size;
    unsigned char *text = read_file(in_name, &size);
    if (!text) {
        printf("libc: cannot read %s\n", in_name);
        return 101;
    }
    int lines = 0, words = 0, in_word = 0;
    for (long i = 0; i < size; i++) {
        lines += text[i] == '\n';
        if (isspace(text[i]))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    uint32_t crc = crc32_bytes(text, (size_t)size);
    printf("libc: read %s: %ld bytes, %d lines, %d words, crc32 %08lx\n", in_name, size, lines, words,
           (unsigned long)crc);

    for (long i = 0; i < size; i++)
        text[i] = (unsigned char)toupper(text[i]);
    FILE *out = fopen(out_name, "wb");
    if (!out) {
        printf("libc: cannot write %s\n", out_name);
        return 102;
    }
    size_t written = fwrite(text, 1, (size_t)size, out);
    if (fclose(out) != 0 || written != (size_t)size) {
        printf("libc: cannot write %s\n", out_name);
        return 102;
    }

    long back_size;
    unsigned char *back = read_file(out_name, &back_size);
    if (!back || back_size != size || memcmp(back, text, (size_t)size) != 0) {
        printf("libc: %s reads back wrong\n", out_name);
        return 103;
    }
    printf("libc: wrote %s: %ld bytes, crc32 %08lx\n", out_name, back_size,
           (unsigned long)crc32_bytes(back, (size_t)back_size));
    free(back);
    free(text);
    return lines > 99 ? 99 : lines;
}
