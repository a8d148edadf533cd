#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the SLURM tests (make test-slurm) and
# for a user who wants to try profiles/slurm on a workstation before a real cluster.
#
#   sudo tools/slurm_single_node.sh install   # Debian/Ubuntu: slurm-wlm and munge from apt
#   sudo tools/slurm_single_node.sh start     # munged, slurmctld, slurmd; waits for the node
#   sinfo; sbatch --wrap hostname; squeue
#   sudo tools/slurm_single_node.sh stop      # stops the daemons (state kept for `status`)
#   tools/slurm_single_node.sh status         # exit 0 when the node answers and is usable
#
# What it configures: /etc/slurm/slurm.conf and /etc/slurm/gres.conf (the default paths, which
# every SLURM command and every job finds without SLURM_CONF: the executor plugin removes
# SLURM_* variables from a job's environment, SLURM_CONF included); it refuses to replace files
# there that it did not write. State, logs and the job completion log are in $E2E_SLURM_DIR
# (default /tmp/e2e-slurm).
# - one node (this host's short name) with the CPUs and memory `slurmd -C` reports, and one
#   `gpu` GRES with no device file, so that jobs asking for `--gpus=1` (the pipeline's training
#   rules under profiles/slurm) are scheduled (one at a time) although no GPU exists; nothing
#   on the node sees a GPU (CUDA_VISIBLE_DEVICES is set but names no device);
# - one partition `debug`, the default;
# - controller and node at 127.0.0.1, so nothing depends on the host name resolving;
# - for containers without cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
#   JobAcctGatherType=jobacct_gather/none;
# - no accounting database (no slurmdbd): `sacct` answers "accounting storage is disabled",
#   so the executor plugin is told to query job status with `squeue`
#   (--slurm-status-command squeue), and MinJobAge=3600 keeps finished jobs visible to
#   `squeue`/`scontrol` for an hour; every finished job is also appended to a plain-text job
#   completion log (JobCompType=jobcomp/filetxt, $E2E_SLURM_DIR/jobcomp.log) that the tests
#   read as the job records.
# The daemons run as root (SlurmUser=root); munged runs as the `munge` user with the key the
# package installed (/etc/munge/munge.key).
set -euo pipefail

DIR=${E2E_SLURM_DIR:-/tmp/e2e-slurm}
ETC=${E2E_SLURM_ETC:-/etc/slurm}
CONF=$ETC/slurm.conf
MARK="# Written by tools/slurm_single_node.sh"
NODE=$(hostname -s)
PARTITION=debug

die() {
    echo "slurm_single_node.sh: $*" >&2
    exit 1
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "'$1' must run as root (sudo $0 $1)"
}

cmd_install() {
    need_root install
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        echo "slurm-wlm and munge are already installed"
        return 0
    fi
    command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm (slurmctld, slurmd, sbatch) and munge with your package manager"
    # a fresh machine may have no package lists yet
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge
}

write_conf() {
    local hw cpus mem
    hw=$(slurmd -C | head -1)
    cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    [ -n "$cpus" ] && [ -n "$mem" ] || die "could not read CPUs and RealMemory from 'slurmd -C': $hw"
    for f in "$CONF" "$ETC/gres.conf"; do
        if [ -f "$f" ] && ! head -1 "$f" | grep -qF "$MARK"; then
            die "$f exists and was not written by this script: this machine has its own SLURM configuration; not replacing it"
        fi
    done
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$ETC"
    cat >"$CONF" <<EOF
$MARK: a single-node SLURM for tests and trials.
ClusterName=e2e
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${E2E_SLURMCTLD_PORT:-6817}
SlurmdPort=${E2E_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/gres.conf" <<EOF
$MARK.
# /dev/null stands in for a GPU device file: a gpu GRES so that --gpus=1 jobs schedule without a GPU.
NodeName=$NODE Name=gpu File=/dev/null
EOF
}

start_munge() {
    if pgrep -x munged >/dev/null; then
        return 0
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
}

wait_for_node() {
    local state
    for _ in $(seq 60); do
        state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
        case $state in
        idle | mix | alloc) return 0 ;;
        esac
        sleep 1
    done
    die "node $NODE is not idle after 60 s (state '${state:-none}'); see $DIR/log/"
}

cmd_start() {
    need_root start
    command -v slurmctld >/dev/null || die "SLURM is not installed: sudo $0 install"
    if [ -f "$CONF" ] && sinfo -h -n "$NODE" -o %t >/dev/null 2>&1; then
        echo "already running (node $NODE, partition $PARTITION)"
        return 0
    fi
    write_conf
    start_munge
    slurmctld
    slurmd
    wait_for_node
    echo "single-node SLURM up: node $NODE, partition $PARTITION (configuration $CONF)"
}

stop_daemon() {
    local pidfile=$DIR/$1.pid pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
    fi
    rm -f "$pidfile"
}

cmd_stop() {
    need_root stop
    stop_daemon slurmd
    stop_daemon slurmctld
    echo "single-node SLURM stopped (munged left running; state and logs in $DIR)"
}

cmd_status() {
    [ -f "$CONF" ] || die "not configured: no $CONF (run start)"
    sinfo -h -n "$NODE" -o "%P %t %c %m %G" || die "slurmctld does not answer"
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
