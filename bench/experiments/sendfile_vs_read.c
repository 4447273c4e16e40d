// Measures how fast a page-cached file goes over loopback TCP to a reader thread, with pread+write
// (mode 0) or sendfile (mode 1), in chunks of the given size: which one the Fetch path should use.
//   cc -O2 -o /tmp/sf bench/experiments/sendfile_vs_read.c -lpthread
//   dd if=/dev/urandom of=/tmp/data bs=1M count=2048; cat /tmp/data >/dev/null
//   /tmp/sf /tmp/data 0 1048576; /tmp/sf /tmp/data 1 1048576
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static int port;
static void* reader(void* a) {
  int l = *(int*)a; int c = accept(l, 0, 0); static char buf[1 << 20]; long n;
  while ((n = read(c, buf, sizeof buf)) > 0) {}
  close(c); return 0;
}
static double now() { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char** argv) {
  const char* path = argv[1]; int mode = atoi(argv[2]); size_t chunk = atol(argv[3]);
  int fd = open(path, O_RDONLY); off_t size = lseek(fd, 0, SEEK_END);
  int l = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in sa = {0}; sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); bind(l, (void*)&sa, sizeof sa); listen(l, 1);
  socklen_t sl = sizeof sa; getsockname(l, (void*)&sa, &sl);
  pthread_t t; pthread_create(&t, 0, reader, &l);
  int s = socket(AF_INET, SOCK_STREAM, 0); connect(s, (void*)&sa, sizeof sa);
  char* buf = malloc(chunk); double t0 = now(); off_t off = 0;
  while (off < size) {
    size_t want = chunk; if (off + (off_t)want > size) want = size - off;
    if (mode == 0) { ssize_t n = pread(fd, buf, want, off); size_t w = 0; while (w < (size_t)n) w += write(s, buf + w, n - w); off += n; }
    else { off_t o = off; ssize_t n = sendfile(s, fd, &o, want); off += n; }
  }
  shutdown(s, SHUT_WR); pthread_join(t, 0); double el = now() - t0;
  printf("%s chunk %zu KiB: %.0f MB/s\n", mode ? "sendfile" : "pread+write", chunk >> 10, size / el / 1e6);
  return 0;
}
