// Makes zlib visible to Swift: Foundation on Linux cannot inflate gzip, and the full MNIST
// training images ship gzipped.
#include <zlib.h>
