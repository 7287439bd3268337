#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; char name[32]; int value; };
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int main(int argc, char **argv) {
    struct node *head = NULL;
    for (int i = 0; i < 1000; i++) {
        struct node *n = malloc(sizeof *n);
        snprintf(n->name, sizeof n->name, "node-%d", (i * 7919) % 1000);
        n->value = i; n->next = head; head = n;
    }
    char *names[1000]; int k = 0;
    for (struct node *n = head; n; n = n->next) names[k++] = n->name;
    qsort(names, k, sizeof names[0], cmp);
    printf("%s %s\n", names[0], names[k - 1]);
    return 0;
}
