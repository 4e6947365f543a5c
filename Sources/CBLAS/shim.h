// Makes OpenBLAS's CBLAS interface (Debian's libopenblas-dev) visible to Swift.
// openblas_set_num_threads is declared by OpenBLAS's cblas.h; each Thaw process sets its own
// thread count because several processes share two cores.
#include <cblas.h>
