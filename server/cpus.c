/* cpus.c - CPU budget of this process from cgroups and the affinity mask. */
#include "cpus.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *ok = fgets(buf, (int)cap, f);
    fclose(f);
    return ok ? 0 : -1;
}

static int quota_to_cpus(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return 0;
    long long n = (quota + period - 1) / period;
    return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

int lgmsd_cgroup_cpu_quota(const char *root) {
    char path[512], line[256];
    /* cgroup v2: "<quota> <period>" or "max <period>" */
    snprintf(path, sizeof path, "%s/cpu.max", root);
    if (!read_line(path, line, sizeof line)) {
        long long q, p;
        if (!strncmp(line, "max", 3)) return 0;
        if (sscanf(line, "%lld %lld", &q, &p) == 2) return quota_to_cpus(q, p);
        return 0;
    }
    /* cgroup v1: cpu,cpuacct controller (quota -1 = none) */
    const char *dirs[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char pq[512], pp[512], lq[64], lp[64];
        snprintf(pq, sizeof pq, "%s/%s/cpu.cfs_quota_us", root, dirs[i]);
        snprintf(pp, sizeof pp, "%s/%s/cpu.cfs_period_us", root, dirs[i]);
        long long q, p;
        if (!read_line(pq, lq, sizeof lq) && !read_line(pp, lp, sizeof lp) && sscanf(lq, "%lld", &q) == 1 &&
            sscanf(lp, "%lld", &p) == 1)
            return quota_to_cpus(q, p);
    }
    return 0;
}

unsigned long long lgmsd_memory_limit(const char *root) {
    char path[512], line[256];
    unsigned long long v, ram = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &v) == 1) ram = v * 1024;
    if (f) fclose(f);
    const char *files[] = {"memory.max", "memory/memory.limit_in_bytes"}; /* v2, v1 */
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        /* "max" (v2) or a huge number (v1: no limit) leave the machine's RAM */
        if (!read_line(path, line, sizeof line) && sscanf(line, "%llu", &v) == 1 && v > 0 && (!ram || v < ram))
            return v;
    }
    return ram;
}

int lgmsd_available_cpus(const char *cgroup_root) {
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    int q = lgmsd_cgroup_cpu_quota(cgroup_root ? cgroup_root : "/sys/fs/cgroup");
    if (q > 0 && q < n) n = q;
    return n;
}
