#!/usr/bin/env python3
"""Where a Java consumer's CPU goes: runs Kafka's ConsumerPerformance against a broker that already
holds the topic (e.g. one bench/experiments/consumer_cpu.sh style fill: 8 partitions, 1 KiB
records), samples the JVM's per-thread CPU (/proc/<pid>/task/*/stat) every 100 ms, and prints
ConsumerPerformance's result line and the busiest threads' CPU seconds. The classic consumer does
its network I/O and record parsing on the application thread ("java"); "C2 CompilerThre" is the
JIT compiler.
    bench/experiments/java_consumer_threads.py BOOTSTRAP TOPIC RECORDS
"""
import glob, os, subprocess, sys, time

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bootstrap, topic, records = sys.argv[1], sys.argv[2], sys.argv[3]
cp = subprocess.check_output([f"{repo}/tests/tools/kafka-classpath.sh"], text=True).strip()
proc = subprocess.Popen(["java", "-Xmx1G", "-cp", cp, "org.apache.kafka.tools.ConsumerPerformance",
                         "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", records,
                         "--fetch-size", "4194304", "--timeout", "60000", "--group", f"threads-{time.time_ns()}"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
tick = os.sysconf("SC_CLK_TCK")
last: dict[str, tuple[str, float]] = {}
while proc.poll() is None:
    for task in glob.glob(f"/proc/{proc.pid}/task/*"):
        try:
            stat = open(f"{task}/stat").read()
        except OSError:
            continue  # the thread ended between the listing and the read
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        last[task] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime
    time.sleep(0.1)
lines = proc.stdout.read().strip().splitlines()
print(lines[-1] if lines else "ConsumerPerformance printed nothing")
for name, cpu in sorted(last.values(), key=lambda v: -v[1])[:6]:
    print(f"  {name:24s} {cpu:.2f} s")
