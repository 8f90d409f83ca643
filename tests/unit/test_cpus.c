/* test_cpus.c - worker count from fake cgroup v1 and v2 files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../server/cpus.h"

static char root[64];

static void put(const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void setup(void) {
    strcpy(root, "/tmp/lgmsd-cgroup-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cpus, .init = setup, .fini = teardown);

Test(cpus, v2_quota) {
    put("cpu.max", "150000 100000\n");
    cr_assert_eq(lgmsd_cgroup_cpu_quota(root), 2); /* 1.5 CPUs round up */
    put("cpu.max", "50000 100000\n");
    cr_assert_eq(lgmsd_cgroup_cpu_quota(root), 1);
    put("cpu.max", "max 100000\n");
    cr_assert_eq(lgmsd_cgroup_cpu_quota(root), 0);
}

Test(cpus, v1_quota) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/cpu,cpuacct", root);
    cr_assert_eq(mkdir(dir, 0755), 0);
    put("cpu,cpuacct/cpu.cfs_quota_us", "400000\n");
    put("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    cr_assert_eq(lgmsd_cgroup_cpu_quota(root), 4);
    put("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    cr_assert_eq(lgmsd_cgroup_cpu_quota(root), 0);
}

Test(cpus, available_is_min_of_cpuset_and_quota) {
    put("cpu.max", "100000 100000\n");
    cr_assert_eq(lgmsd_available_cpus(root), 1);
    put("cpu.max", "max 100000\n");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = lgmsd_available_cpus(root);
    cr_assert(n >= 1 && n <= online, "%d cpus of %ld", n, online);
    cr_assert_eq(lgmsd_cgroup_cpu_quota("/nonexistent"), 0);
}
