/* cpus.h - how many CPUs this process may really use: the cgroup CPU quota (v2 cpu.max,
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us) and the cpuset (sched_getaffinity). */
#ifndef LGMSD_CPUS_H
#define LGMSD_CPUS_H

/* Quota in CPUs (rounded up, at least 1) under the cgroup file-system root `root`
 * (normally "/sys/fs/cgroup"), or 0 if no quota is set or none can be read. */
int lgmsd_cgroup_cpu_quota(const char *root);
/* The memory this process may use, in bytes: the cgroup limit (v2 memory.max, v1
 * memory.limit_in_bytes) when set, else the machine's RAM (MemTotal); 0 if none can be
 * read. root is the cgroup file-system root (normally "/sys/fs/cgroup"). */
unsigned long long lgmsd_memory_limit(const char *root);
/* min(cpuset size, quota), at least 1: the default worker count. */
int lgmsd_available_cpus(const char *cgroup_root);

#endif
