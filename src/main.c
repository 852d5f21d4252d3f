#include <stdio.h>
int main(void) { puts("raftgate"); return 0; }
