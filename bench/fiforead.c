/*
 * fiforead: the benchmark's reader, standing in for a training process.
 *
 *   fiforead PATH   open PATH (a FIFO) read-only, blocking until a writer opens it
 *   fiforead -      read standard input (the read end of a shell pipe)
 *
 * Reads to EOF with 1 MiB read() calls and discards the data. It never resizes the pipe: the
 * buffer size is the writer's choice, and that choice is part of what is measured.
 * The clock starts when open() returns (for "-": when the program starts) and stops at EOF.
 * Prints one JSON line on stdout: bytes, secs, first_byte_secs, MiBps, reads, pipe_bytes
 * (the pipe buffer size at EOF), user and sys CPU seconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (1 << 20)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fiforead PATH|-\n");
    return 2;
  }
  char *buf = malloc(READ_SIZE);
  if (buf == NULL) {
    perror("fiforead: malloc");
    return 1;
  }
  int fd = 0;
  if (strcmp(argv[1], "-") != 0) {
    fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
      perror("fiforead: open");
      return 1;
    }
  }
  double start = now(), first_byte = 0;
  unsigned long long total = 0, reads = 0;
  for (;;) {
    ssize_t n = read(fd, buf, READ_SIZE);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("fiforead: read");
      return 1;
    }
    if (n == 0) break;
    if (reads == 0) first_byte = now();
    total += (unsigned long long)n;
    reads++;
  }
  double secs = now() - start;
  int pipe_bytes = fcntl(fd, F_GETPIPE_SZ);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"bytes\": %llu, \"secs\": %.6f, \"first_byte_secs\": %.6f, \"MiBps\": %.1f, \"reads\": %llu, "
         "\"pipe_bytes\": %d, \"user\": %.3f, \"sys\": %.3f}\n",
         total, secs, reads ? first_byte - start : 0.0, secs > 0 ? (double)total / 1048576.0 / secs : 0.0, reads,
         pipe_bytes, seconds(ru.ru_utime), seconds(ru.ru_stime));
  return 0;
}
