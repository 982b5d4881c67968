/* Prints nothing and exits with status 3. */
int main(void)
{
    return 3;
}
