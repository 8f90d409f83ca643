/* cpus.h - how many CPUs this process may really use: the cgroup CPU quota (v2 cpu.max,
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us) and the cpuset (sched_getaffinity). */
#ifndef LGMSD_CPUS_H
#define LGMSD_CPUS_H

/* Quota in CPUs (rounded up, at least 1) under the cgroup file-system root `root`
 * (normally "/sys/fs/cgroup"), or 0 if no quota is set or none can be read. */
int lgmsd_cgroup_cpu_quota(const char *root);
/* min(cpuset size, quota), at least 1: the default worker count. */
int lgmsd_available_cpus(const char *cgroup_root);

#endif
