"""Peak memory of one study through the real pipeline (shipped model), by stage.

    python benchmarks/probe_memory.py CD_DIR OUT_DIR [trim]

Prints RSS and the process's own high-water mark (VmHWM, Linux) after the
analysis and after every output is written. ``trim`` returns freed heap to
the OS (malloc_trim) between the two, to see what the allocator holds.
Make a long study first, e.g. ``mri_measure.synth.long_series.write_long_series``.
"""
import sys, time, threading
def hwm():
    return int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))/1024
def rss():
    return int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS:')))/1024
t=time.time()
from mri_measure.pipeline import analyse_study, write_outputs
a=analyse_study(sys.argv[1])
print(f"after analysis: rss {rss():.0f} hwm {hwm():.0f} t {time.time()-t:.1f}", flush=True)
if len(sys.argv) > 3 and sys.argv[3] == 'trim':
    import ctypes; ctypes.CDLL('libc.so.6').malloc_trim(0)
    print(f"after trim: rss {rss():.0f}", flush=True)
write_outputs(a, sys.argv[2])
print(f"end: rss {rss():.0f} hwm {hwm():.0f} t {time.time()-t:.1f}")
