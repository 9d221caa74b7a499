#!/bin/sh
# The init of LinuxSMPSoftCPUTests (rdinit=/smptest.sh): how many CPUs Linux brought up, the 4-thread LOCK XADD
# counter, and 4 parallel sha256sum of the same data, then power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "APUS-SMP-NPROC $(nproc)"
echo "APUS-SMP-ONLINE $(cat /sys/devices/system/cpu/online 2>/dev/null || echo unknown)"
/bin/apus-smpcount 4
yes "the same data for every sha256sum" | head -c 1048576 > /data
for i in 1 2 3 4; do sha256sum /data > /sum$i & done
wait
echo "APUS-SMP-SHA $(cat /sum1 /sum2 /sum3 /sum4 | cut -d' ' -f1 | sort | uniq -c | sed 's/^ *//')"
poweroff -f
