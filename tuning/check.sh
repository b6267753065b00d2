#!/usr/bin/env bash
# Compares this host with tuning/: prints every setting that differs and the command that
# fixes it. Exit status: 0 when everything matches, 1 otherwise. Changes nothing.
#
# Usage: tuning/check.sh [--shards N] [--unit NAME]
#   --shards N   shards the server will run (memlock need); default: CPUs of this process
#   --unit NAME  also check the limits of this systemd unit (default: lonsdaleite, when loaded)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARDS=$(nproc)
UNIT=lonsdaleite
while (($#)); do
    case $1 in
    --shards) SHARDS=$2; shift 2 ;;
    --unit) UNIT=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

bad=0
ok() { printf 'ok    %-32s %s\n' "$1" "$2"; }
fix() { # name, found, wanted, command
    printf 'FIX   %-32s is %s, want %s\n      -> %s\n' "$1" "$2" "$3" "$4"
    bad=1
}
note() { printf 'note  %-32s %s\n' "$1" "$2"; }

# sysctl: every key of the shipped file, at least the shipped value (io_uring_disabled: exactly)
SYSCTL_FILE=$HERE/sysctl.d/60-lonsdaleite.conf
while IFS='=' read -r key want; do
    key=$(echo "$key" | tr -d ' ') want=$(echo "$want" | tr -d ' ')
    [[ -z $key || $key == \#* ]] && continue
    path=/proc/sys/${key//.//}
    if [[ ! -r $path ]]; then
        note "$key" "not present on this kernel ($(uname -r))"
        continue
    fi
    have=$(tr -d ' \n' <"$path")
    if [[ $key == kernel.io_uring_disabled ]]; then
        [[ $have == "$want" ]] && ok "$key" "$have" ||
            fix "$key" "$have" "$want" "sudo sysctl -w $key=$want (persist: sudo cp $SYSCTL_FILE /etc/sysctl.d/)"
    elif ((have >= want)); then
        ok "$key" "$have"
    else
        fix "$key" "$have" "≥ $want" "sudo sysctl -w $key=$want (persist: sudo cp $SYSCTL_FILE /etc/sysctl.d/ && sudo sysctl --system)"
    fi
done <"$SYSCTL_FILE"

# memlock: shards × (shard_io_memory 1 MiB + ~256 KiB rings), as the server's preflight computes
need_kib=$((SHARDS * (1024 + 256)))
have=$(ulimit -l)
if [[ $have == unlimited ]] || ((have >= need_kib)); then
    ok "memlock (this shell)" "$have KiB (need ~$need_kib KiB for $SHARDS shards)"
else
    fix "memlock (this shell)" "$have KiB" "≥ $need_kib KiB for $SHARDS shards" \
        "ulimit -l unlimited (as root), or install $HERE/limits.d/lonsdaleite.conf, or LimitMEMLOCK=infinity in the unit"
fi
have=$(ulimit -n)
if [[ $have == unlimited ]] || ((have >= 65536)); then
    ok "nofile (this shell)" "$have"
else
    fix "nofile (this shell)" "$have" "≥ 65536" "ulimit -n 1048576, or install $HERE/limits.d/lonsdaleite.conf"
fi

# the systemd unit, when it is installed
if command -v systemctl >/dev/null && systemctl cat "$UNIT" >/dev/null 2>&1; then
    for p in LimitMEMLOCK LimitNOFILE; do
        v=$(systemctl show "$UNIT" -p "$p" --value)
        if [[ $p == LimitMEMLOCK && $v != infinity ]] && ((v < need_kib * 1024)); then
            fix "$UNIT.service $p" "$v" "infinity" "install $HERE/systemd/lonsdaleite.service (LimitMEMLOCK=infinity)"
        elif [[ $p == LimitNOFILE && $v != infinity ]] && ((v < 65536)); then
            fix "$UNIT.service $p" "$v" "1048576" "install $HERE/systemd/lonsdaleite.service (LimitNOFILE=1048576)"
        else
            ok "$UNIT.service $p" "$v"
        fi
    done
else
    note "systemd unit" "$UNIT.service not installed here (see $HERE/systemd/lonsdaleite.service)"
fi

# CPU frequency governor: performance avoids ramp-up latency under bursts
gov=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || true)
if [[ -z $gov ]]; then
    note "cpufreq governor" "not exposed (virtual machine or fixed frequency)"
elif [[ $gov == performance ]]; then
    ok "cpufreq governor" "$gov"
else
    fix "cpufreq governor" "$gov" "performance" "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
fi

# information only: isolation and interrupts (what to do depends on the host; see README)
iso=$(cat /sys/devices/system/cpu/isolated 2>/dev/null)
note "isolated CPUs" "${iso:-none} (kernel parameter isolcpus=)"
nohz=$(cat /sys/devices/system/cpu/nohz_full 2>/dev/null)
[[ $nohz == "(null)" ]] && nohz=''
note "nohz_full CPUs" "${nohz:-none} (kernel parameter nohz_full=)"
if pgrep -x irqbalance >/dev/null 2>&1; then
    note "irqbalance" "running (ban the shard CPUs: IRQBALANCE_BANNED_CPULIST, see README)"
else
    note "irqbalance" "not running"
fi
drops=0
while read -r _ d _; do drops=$((drops + 16#$d)); done </proc/net/softnet_stat 2>/dev/null || drops=
note "softnet backlog drops" "${drops:-?} since boot (/proc/net/softnet_stat column 2; should stay 0)"
udp=$(awk '/^Udp: [0-9]/ { print "RcvbufErrors " $6 ", InErrors " $4 }' /proc/net/snmp 2>/dev/null)
note "UDP receive errors" "${udp:-?} since boot (/proc/net/snmp)"

exit $bad
