#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests/test_slurm.py (CI runs it around the Slurm tests).
#   .ci/slurm.sh start    install slurm-wlm and munge from Debian's packages when absent (apt-get, needs root and
#                         network), write /etc/slurm/slurm.conf for this host (its CPUs and memory as slurmd -C sees
#                         them, one partition "debug", no accounting), start munged, slurmctld and slurmd, and wait
#                         until sinfo shows the node idle
#   .ci/slurm.sh stop     stop the daemons this script started (by their pid files), nothing else
#   .ci/slurm.sh status   sinfo's view of the node; exit 0 only when it is up
# It never overwrites a slurm.conf it did not write. Daemons' files and logs: /var/tmp/dip-bench-slurm/.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by dip-bench .ci/slurm.sh"
STATE=/var/tmp/dip-bench-slurm
PARTITION=debug

say() { echo "slurm.sh: $*" >&2; }

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || { say "slurm-wlm/munge not installed and not root: cannot install them"; return 1; }
    say "installing slurm-wlm and munge (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
    if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
        say "$CONF exists and was not written by this script: leaving it (and this Slurm) alone"
        return 1
    fi
    local host node name
    host=$(hostname -s)
    # slurmd's own view of this host (CPUs, sockets, cores, memory): a node line that matches it is never drained
    node=$(slurmd -C | head -n 1 | sed 's/ UpTime=.*//')
    [[ "$node" == NodeName=* ]] || { say "slurmd -C gave no node line: $node"; return 1; }
    name=${node%% *}
    name=${name#NodeName=}
    # slurm.conf's NodeName must be the name slurmd goes by: this host's short name
    [ "$name" = "$host" ] || { say "slurmd -C names the node $name, hostname -s is $host"; return 1; }
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    cat >"$CONF" <<EOF
$MARK
ClusterName=dipbench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups in a container: track processes by parent id, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# no accounting database: sacct is disabled (bench/executor.py asks squeue for the state then)
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
}

alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged is already running (ours or the machine's)
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$STATE/munged.pid"
}

idle() { sinfo -h -N -p "$PARTITION" -o %T 2>/dev/null | grep -qx idle; }

start() {
    install_packages
    write_conf
    start_munge
    alive slurmctld || { /usr/sbin/slurmctld -i; sleep 0.5; }
    alive slurmd || /usr/sbin/slurmd
    local deadline=$((SECONDS + 60))
    until idle; do
        if [ "$SECONDS" -ge "$deadline" ] || ! alive slurmctld || ! alive slurmd; then
            say "the node did not become idle (within 60 s, daemons alive):"
            sinfo -N -l >&2 || true
            tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    say "up: $(sinfo -h -N -o '%N %c CPUs, %m MB, partition %P, %T')"
}

stop_one() {
    local name=$1 pid
    alive "$name" || { rm -f "$STATE/$name.pid"; return 0; }
    pid=$(cat "$STATE/$name.pid")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$STATE/$name.pid"
}

stop() {
    if command -v scancel >/dev/null && [ -f "$CONF" ] && grep -qxF "$MARK" "$CONF"; then
        scancel --user="$(id -un)" 2>/dev/null || true
    fi
    stop_one slurmd
    stop_one slurmctld
    stop_one munged
    say "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) idle && sinfo -N -l ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
