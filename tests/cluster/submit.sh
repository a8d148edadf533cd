#!/bin/sh
# Local stand-in for a cluster's submit command, for snakemake-executor-plugin-cluster-generic:
#   snakemake all --executor cluster-generic --cluster-generic-submit-cmd tests/cluster/submit.sh
# The plugin appends the job script's path as the last argument, reads the job id from the first
# line of our stdout, and (without --cluster-generic-status-cmd) waits for the job script to
# touch its own jobfinished/jobfailed marker. So: start the job script as its own detached
# process (new session when `setsid` exists, immune to hangups either way), send its output to
# ${E2E_CLUSTER_LOGS:-logs/cluster}/<job script name>.log, print its pid as the job id, and
# return at once. The job's stdin/stdout/stderr must not stay attached to ours: the plugin reads
# our stdout to its end, so an inherited pipe would block it until the job finishes.
set -eu

if [ "$#" -lt 1 ]; then
    echo "usage: $0 [ignored arguments...] JOBSCRIPT" >&2
    exit 2
fi
# the last argument (POSIX sh has no ${@: -1})
for jobscript; do :; done
if [ ! -f "$jobscript" ]; then
    echo "$0: no job script at $jobscript" >&2
    exit 2
fi

logdir=${E2E_CLUSTER_LOGS:-logs/cluster}
mkdir -p "$logdir"
name=$(basename "$jobscript")
log="$logdir/${name%.sh}.log"

# Run it as the executable it is (its own #! line); Snakemake's job scripts are /bin/sh scripts.
case $jobscript in
    */*) ;;
    *) jobscript=./$jobscript ;; # a bare name would be looked up on PATH
esac
if [ -x "$jobscript" ]; then
    set -- "$jobscript"
else
    set -- /bin/sh "$jobscript"
fi
# In a non-interactive shell a background job is not a process-group leader, so setsid execs
# in place and $! is the job's own pid.
if command -v setsid >/dev/null 2>&1; then
    nohup setsid "$@" </dev/null >"$log" 2>&1 &
else
    nohup "$@" </dev/null >"$log" 2>&1 &
fi
echo "$!"
