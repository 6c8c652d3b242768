# gdb Python helper for scripts/ardour_roundtrip.sh (diagnostic, optional): prints the order
# in which the host calls into Mephisto while it opens a session, e.g.
#     >>> setActive(1)  >>> build_engine  >>> setState
# Run as: MEPHISTO_TRACE="name=0xOFFSET,..." gdb -batch -x call_order.py --args PROGRAM ARGS...
# OFFSET is a symbol's address in Mephisto.so as `nm` prints it; once the library is loaded
# its load address is added and a breakpoint that only prints is put there.
import os

import gdb

SYMBOLS = [item.split("=") for item in os.environ["MEPHISTO_TRACE"].split(",") if item]
armed = [False]


class Tracer(gdb.Breakpoint):
    def __init__(self, address, name):
        super().__init__("*0x%x" % address, internal=True)
        self.name = name

    def stop(self):
        extra = ""
        if self.name == "setActive":
            # IComponent::setActive(this, TBool state): the second argument, in rsi.
            extra = "(%d)" % (int(gdb.parse_and_eval("$rsi")) & 0xFF)
        print(">>> %s%s" % (self.name, extra), flush=True)
        return False


def on_stop(_event):
    if armed[0]:
        return
    for line in gdb.execute("info proc mappings", to_string=True).splitlines():
        if line.rstrip().endswith("Mephisto.so"):
            base = int(line.split()[0], 16)
            for name, offset in SYMBOLS:
                Tracer(base + int(offset, 16), name)
            armed[0] = True
            return


gdb.events.stop.connect(on_stop)
gdb.execute("set pagination off")
gdb.execute("set print thread-events off")
gdb.execute("catch load Mephisto")
gdb.execute("run")
while True:
    try:
        gdb.execute("continue")
    except gdb.error:
        break
