/* The leak check's negative control: loses 4 KiB, which LeakSanitizer must report. */
#include <stdlib.h>

#include "equifx.h"

int main(void) {
    void *volatile p = malloc(4096);
    p = 0;
    (void)p;
    return equifx_node_count() > 0 ? 0 : 1;
}
