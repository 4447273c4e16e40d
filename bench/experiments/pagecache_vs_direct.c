// Measures what a log append and a cold read cost through the page cache and with O_DIRECT, in the
// directory given (the same file system as the log dir): the facts behind log.direct.io.
//   cc -O2 -o /tmp/pcd bench/experiments/pagecache_vs_direct.c && /tmp/pcd /var/tmp 4096
// Prints, for a sustained write of MB megabytes in 256 KiB appends over 8 files, the buffered rate
// second by second (it falls once the kernel runs out of recently freed pages), then O_DIRECT
// writes and reads of 1 MiB, a buffered read of data that is not cached, and the latency of a
// small (4 KiB) direct write. CPU figures are this process's user+system seconds per GB.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// Writes (write != 0) or reads the whole file in `big` steps; 0 on success.
static int sweep(int fd, char* buf, size_t total, size_t big, int write) {
  for (size_t o = 0; o < total; o += big) {
    ssize_t n = write ? pwrite(fd, buf, big, o) : pread(fd, buf, big, o);
    if (n != (ssize_t)big) {
      perror(write ? "pwrite" : "pread");
      return 1;
    }
  }
  return 0;
}

static void report(const char* what, size_t bytes, double t0, double c0) {
  double s = now() - t0, c = cpu() - c0;
  printf("%-40s %7.0f MB/s  %5.2f CPU-s/GB\n", what, bytes / s / 1e6, c / (bytes / 1e9));
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR MB\n", argv[0]);
    return 2;
  }
  if (chdir(argv[1]) != 0) {
    perror("chdir");
    return 2;
  }
  const size_t total = (size_t)atol(argv[2]) << 20, chunk = 256 << 10, big = 1 << 20;
  char* buf;
  if (posix_memalign((void**)&buf, 4096, big) != 0) return 1;
  memset(buf, 'x', big);

  // 1. Buffered appends, 8 files round robin.
  int fd[8];
  size_t off[8] = {0};
  char name[32];
  for (int i = 0; i < 8; ++i) {
    snprintf(name, sizeof name, "pcd-%d.dat", i);
    fd[i] = open(name, O_CREAT | O_TRUNC | O_RDWR, 0644);
  }
  double t0 = now(), c0 = cpu(), last = t0;
  size_t done = 0, last_done = 0;
  for (int k = 0; done < total; ++k) {
    int i = k % 8;
    if (pwrite(fd[i], buf, chunk, off[i]) != (ssize_t)chunk) {
      perror("pwrite");
      return 1;
    }
    off[i] += chunk;
    done += chunk;
    double n = now();
    if (n - last >= 1.0) {
      printf("  buffered appends, second %.0f: %.0f MB/s\n", n - t0, (done - last_done) / (n - last) / 1e6);
      last = n;
      last_done = done;
    }
  }
  report("buffered appends (256 KiB, 8 files)", total, t0, c0);
  for (int i = 0; i < 8; ++i) {
    close(fd[i]);
    snprintf(name, sizeof name, "pcd-%d.dat", i);
    unlink(name);
  }

  // 2. O_DIRECT writes, then reads, of one file.
  int d = open("pcd-direct.dat", O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
  if (d < 0) {
    perror("open O_DIRECT");
    return 1;
  }
  struct {
    const char* what;
    int fd, write;
  } passes[] = {{"O_DIRECT writes (1 MiB)", d, 1},
                {"O_DIRECT reads (1 MiB)", d, 0},
                {"buffered reads, not cached (1 MiB)", -1, 0},
                {"buffered reads, cached (1 MiB)", -1, 0}};
  int b = -1;
  for (size_t i = 0; i < sizeof passes / sizeof passes[0]; ++i) {
    if (passes[i].fd < 0 && b < 0) {
      b = open("pcd-direct.dat", O_RDONLY);
      posix_fadvise(b, 0, 0, POSIX_FADV_DONTNEED);
    }
    t0 = now();
    c0 = cpu();
    if (sweep(passes[i].fd < 0 ? b : passes[i].fd, buf, total, big, passes[i].write) != 0) return 1;
    report(passes[i].what, total, t0, c0);
  }
  t0 = now();
  for (int i = 0; i < 2000; ++i)
    if (pwrite(d, buf, 4096, (size_t)i * 4096) != 4096) return 1;
  printf("%-40s %7.1f us each\n", "O_DIRECT 4 KiB write", (now() - t0) / 2000 * 1e6);
  close(b);
  close(d);
  unlink("pcd-direct.dat");
  return 0;
}
