/* Counts heap allocations in a process, for `thaw bench train`'s allocations-per-step figure.
 *
 * Built and preloaded by the benchmark itself (cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c;
 * LD_PRELOAD=./malloc_count.so). Every malloc, calloc, realloc and aligned allocation adds one to a counter
 * and forwards to glibc's own entry points (__libc_*, exported by glibc 2.36), so no dlsym bootstrapping is
 * needed. The process reads the counter through thaw_malloc_count(), found with dlsym. free is not wrapped.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static uint64_t allocations;

static inline void count_one(void) { __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED); }

uint64_t thaw_malloc_count(void) { return __atomic_load_n(&allocations, __ATOMIC_RELAXED); }

void *malloc(size_t size) { count_one(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_one(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { count_one(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}
