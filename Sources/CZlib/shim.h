// zlib (Debian zlib1g-dev): gzip for IDX files, inflate for .pth zip members.
#include <zlib.h>
