"""A servo bus on a pseudo-terminal, for testing drivers through the real SDKs without hardware.

`BusEmulator` opens a pty pair (`os.openpty`); the SDK opens the slave path as its serial port
and the emulator answers on the master side from a background thread, speaking the real wire
protocol: Feetech (`FF FF id len instr params checksum`, checksum = ~sum & 0xFF) or Dynamixel
protocol 2.0 (`FF FF FD 00 id len16 instr params crc16`, with byte stuffing). It implements the
instructions the SDKs send: ping (also broadcast), read, write, sync read, sync write; status
replies honour Response_Status_Level / Status_Return_Level. Servo state is `EmulatedServo`.

Timing is modelled so that the SDKs' packet timeouts (computed from the baud rate) behave as on
a real bus: a reply is released only after the request and the reply would have crossed the
wire at the line rate, plus the servo's Return_Delay_Time (2 us units). A pty ignores its baud
setting, so the emulator reads the rate the SDK configured (TCGETS2 on the master) and a servo
whose Baud_Rate differs does not answer, as a real one would not. `realtime=False` replies
immediately.

Fault injection, for testing retries and recovery: `drop_replies(n)` (the next n status packets
are not sent), `corrupt_replies(n)` (the next n go out with a wrong checksum/CRC),
`servo(id).responding = False` (a servo stops answering), `servo(id).alarms = bits` (hardware
alarm), `unplug()` / `replug()` (the port disappears: the pty is closed, the `link` symlink
removed; then a new pty appears behind the same link).

In-process, the emulator thread competes for the GIL with the SDK, which polls the port without
sleeping while it waits for a reply; on a loaded machine a reply can then miss the SDK's default
34 ms timeout. Give the bus a larger `latency_timer_ms` in such tests (dojo's own use 50 ms), or
run the emulator as a separate process.

As a process (a stable symlink lets another process open it; SIGUSR1 unplugs, SIGUSR2 replugs):

    python -m dojo_core.motors.emulator --protocol feetech --ids 1..6 --link /tmp/so101
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from dojo_core.motors.emulated_servo import EmulatedServo
from dojo_core.motors.tables import DEFAULT_MODEL, DYNAMIXEL, FEETECH, PROTOCOLS, motor_model

BROADCAST_ID = 0xFE
PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
DXL_STATUS = 0x55
DXL_INSTRUCTION_ERROR, DXL_ACCESS_ERROR, DXL_ALERT = 0x02, 0x07, 0x80
TCGETS2 = 0x802C542A  # Linux asm-generic ioctl: struct termios2, speeds at byte offsets 36 and 40
TERMIOS_RATES = {getattr(termios, f'B{rate}'): rate for rate in (
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000, 1_152_000,
    1_500_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000) if hasattr(termios, f'B{rate}')}
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
SPIN_LIMIT = 0.002  # s


@dataclass
class Instruction:
    motor_id: int
    code: int
    params: bytes
    wire_size: int  # bytes on the wire, for timing


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005 if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


CRC16_TABLE = _crc16_table()


def _crc16(data: bytes) -> int:
    """CRC-16 of Dynamixel protocol 2.0: polynomial 0x8005, initial value 0, not reflected."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


class FeetechWire:
    """`FF FF id len instr params chk`, len = len(params) + 2, chk = ~(id + len + instr + params) & 0xFF."""

    address_size = 1

    @staticmethod
    def checksum(body: bytes) -> int:
        return ~sum(body) & 0xFF

    def parse(self, buf: bytearray) -> tuple[Instruction | None, int, bool]:
        """(instruction or None, bytes consumed, whether a malformed packet was discarded)."""
        start = buf.find(b'\xff\xff')
        if start < 0:
            return None, max(0, len(buf) - 1), False
        while start + 2 < len(buf) and buf[start + 2] == 0xFF:  # extra 0xFF before the id
            start += 1
        if len(buf) < start + 4:
            return None, start, False
        total = 4 + buf[start + 3]
        if len(buf) < start + total:
            return None, start, False
        packet = bytes(buf[start:start + total])
        if buf[start + 3] < 2 or self.checksum(packet[2:-1]) != packet[-1]:
            return None, start + total, True
        return Instruction(packet[2], packet[4], packet[5:-1], total), start + total, False

    def status(self, motor_id: int, error: int, params: bytes) -> bytes:
        body = bytes([motor_id, len(params) + 2, error]) + params
        return b'\xff\xff' + body + bytes([self.checksum(body)])

    def corrupt(self, packet: bytes) -> bytes:
        return packet[:-1] + bytes([packet[-1] ^ 0xFF])


class DynamixelWire:
    """Protocol 2.0: `FF FF FD 00 id len_l len_h instr params crc_l crc_h`; `FF FF FD` inside the
    instruction and parameters is sent as `FF FF FD FD` and the CRC covers the stuffed bytes."""

    address_size = 2
    header = b'\xff\xff\xfd\x00'

    @staticmethod
    def stuff(payload: bytes) -> bytes:
        out = bytearray()
        for byte in payload:
            out.append(byte)
            if out[-3:] == b'\xff\xff\xfd':
                out.append(0xFD)
        return bytes(out)

    @staticmethod
    def unstuff(payload: bytes) -> bytes:
        out = bytearray()
        stuffed = False  # the byte after a removed stuffing byte is data, even another 0xFD
        for byte in payload:
            if byte == 0xFD and out[-3:] == b'\xff\xff\xfd' and not stuffed:
                stuffed = True
                continue
            out.append(byte)
            stuffed = False
        return bytes(out)

    def parse(self, buf: bytearray) -> tuple[Instruction | None, int, bool]:
        start = buf.find(self.header)
        if start < 0:
            return None, max(0, len(buf) - 3), False
        if len(buf) < start + 7:
            return None, start, False
        total = 7 + int.from_bytes(buf[start + 5:start + 7], 'little')
        if len(buf) < start + total:
            return None, start, False
        packet = bytes(buf[start:start + total])
        if total < 10 or _crc16(packet[:-2]) != int.from_bytes(packet[-2:], 'little'):
            return None, start + total, True
        payload = self.unstuff(packet[7:-2])
        return Instruction(packet[4], payload[0], payload[1:], total), start + total, False

    def status(self, motor_id: int, error: int, params: bytes) -> bytes:
        payload = self.stuff(bytes([DXL_STATUS, error]) + params)
        packet = self.header + bytes([motor_id]) + (len(payload) + 2).to_bytes(2, 'little') + payload
        return packet + _crc16(packet).to_bytes(2, 'little')

    def corrupt(self, packet: bytes) -> bytes:
        return packet[:-2] + bytes([packet[-2] ^ 0xFF]) + packet[-1:]


WIRES = {FEETECH: FeetechWire, DYNAMIXEL: DynamixelWire}


@dataclass
class EmulatorStats:
    instructions: int = 0
    writes: int = 0  # WRITE instructions (single-servo, acknowledged)
    bad_packets: int = 0  # failed checksum/CRC or malformed
    replies: int = 0
    dropped: int = 0
    corrupted: int = 0
    baud_mismatches: int = 0  # requests a servo could not hear because the line rate differed


class BusEmulator:
    """Servos with ids `ids` on a pty; `port` is the path to give the SDK (the `link` if set).

    `model` names the servo model of all servos, or per id ({id: model}); default sts3215 for
    Feetech, xl430-w250 for Dynamixel. `positions` are initial encoder readings (default 2048).
    """

    def __init__(self, protocol: str = FEETECH, ids: Iterable[int] = range(1, 7), *,
                 model: str | Mapping[int, str] | None = None,
                 baudrate: int = 1_000_000, positions: Mapping[int, float] | None = None,
                 link: str | os.PathLike | None = None, realtime: bool = True, time_constant: float = 0.05):
        if protocol not in PROTOCOLS:
            raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
        self.protocol = protocol
        self.wire = WIRES[protocol]()
        self.realtime = realtime
        self.link = Path(link) if link else None
        self.stats = EmulatorStats()
        self._lock = threading.RLock()
        self.servos: dict[int, EmulatedServo] = {}
        for motor_id in ids:
            name = model.get(motor_id) if isinstance(model, Mapping) else model
            servo_model = motor_model(name or DEFAULT_MODEL[protocol])
            if servo_model.protocol != protocol:
                raise ValueError(f'{servo_model.name} is not a {protocol} servo')
            self.servos[motor_id] = EmulatedServo(servo_model, motor_id, baudrate,
                                                  (positions or {}).get(motor_id, 2048.0),
                                                  time_constant=time_constant, lock=self._lock)
        self._drop = 0
        self._corrupt = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ''
        self._generation = 0  # counts ptys, so bytes of an unplugged one are never parsed with a new one's
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> str:
        return str(self.link) if self.link else self._slave_name

    def start(self) -> 'BusEmulator':
        self.replug()
        self._thread = threading.Thread(target=self._serve, name='bus-emulator', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b'x')
        if self._thread is not None:
            self._thread.join(5)
        self.unplug()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def __enter__(self) -> 'BusEmulator':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------------- faults and state

    def servo(self, motor_id: int) -> EmulatedServo:
        return self.servos[motor_id]

    def drop_replies(self, count: int = 1) -> None:
        with self._lock:
            self._drop += count

    def corrupt_replies(self, count: int = 1) -> None:
        with self._lock:
            self._corrupt += count

    def unplug(self) -> None:
        """The port disappears: pty closed (the SDK's reads and writes fail), link removed."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link.unlink()
        os.write(self._wake_w, b'x')

    def replug(self) -> None:
        """A fresh pty appears (behind the same `link`); the servos keep their state."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no newline translation until the SDK configures the port
            self._master, self._slave, self._slave_name = master, slave, os.ttyname(slave)
            self._generation += 1
            if self.link is not None:
                tmp = self.link.with_name(self.link.name + '.tmp')
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(self._slave_name)
                os.replace(tmp, self.link)
        os.write(self._wake_w, b'x')

    # -------------------------------------------------------------------- serving

    def _serve(self) -> None:
        buf, generation = bytearray(), self._generation
        while not self._stop.is_set():
            master = self._master
            try:
                ready, _, _ = select.select([self._wake_r] + ([master] if master is not None else []), [], [], 1.0)
            except OSError:  # the pty was closed under us (unplug): look again
                continue
            if self._wake_r in ready:
                os.read(self._wake_r, 1024)
            if master is None or master not in ready:
                continue
            with self._lock:
                if self._generation != generation:  # a new pty: bytes of the old one are gone
                    buf.clear()
                    generation = self._generation
                if self._master != master:
                    continue
                try:
                    buf += os.read(master, 4096)
                except OSError:
                    continue
                received = time.monotonic()
                line_baud = self._line_baud(master)
                byte_time = BITS_PER_BYTE / line_baud
                replies, due = [], received
                while True:
                    instruction, consumed, bad = self.wire.parse(buf)
                    del buf[:consumed]
                    self.stats.bad_packets += bad
                    if instruction is None:
                        if not bad:
                            break
                        continue
                    self.stats.instructions += 1
                    due += instruction.wire_size * byte_time
                    for servo, reply in self._handle(instruction, line_baud):
                        due += servo.get('Return_Delay_Time') * 2e-6 + len(reply) * byte_time
                        replies.append(reply)
            if not replies:
                continue
            if self.realtime:
                _wait_until(due)
            with self._lock:
                if self._master == master:
                    with contextlib.suppress(OSError):
                        os.write(master, b''.join(replies))

    def _line_baud(self, master: int) -> int:
        """The baud rate the SDK set on the port (a pty keeps it although it does not use it).

        Standard rates come from tcgetattr; others (pyserial sets them as BOTHER) from TCGETS2.
        """
        try:
            speed = termios.tcgetattr(master)[5]
            if speed in TERMIOS_RATES:
                return TERMIOS_RATES[speed]
            termios2 = bytearray(44)
            fcntl.ioctl(master, TCGETS2, termios2)
            return struct.unpack_from('I', termios2, 40)[0]
        except (OSError, termios.error):  # not Linux: assume the servos' rate
            return next(iter(self.servos.values())).baudrate

    def _listeners(self, motor_id: int, line_baud: int) -> list[EmulatedServo]:
        """Servos addressed by `motor_id` that can hear the line, in id order."""
        servos = sorted(self.servos.values(), key=lambda s: s.id)
        addressed = [s for s in servos if motor_id in (BROADCAST_ID, s.id)]
        hearing = [s for s in addressed if s.baudrate == line_baud]
        self.stats.baud_mismatches += len(addressed) - len(hearing)
        return hearing

    def _handle(self, ins: Instruction, line_baud: int) -> list[tuple[EmulatedServo, bytes]]:
        """Execute one instruction; the status packets to send, in order."""
        width = self.wire.address_size
        params = ins.params
        replies: list[tuple[EmulatedServo, int, bytes]] = []
        if ins.code in (SYNC_READ, SYNC_WRITE):
            address = int.from_bytes(params[:width], 'little')
            size = int.from_bytes(params[width:2 * width], 'little')
            body = params[2 * width:]
            if ins.code == SYNC_WRITE:
                for k in range(0, len(body) // (size + 1) * (size + 1), size + 1):  # id, data[size]
                    for servo in self._listeners(body[k], line_baud):
                        servo.write_bytes(address, body[k + 1:k + 1 + size])
            else:
                for motor_id in body:
                    for servo in self._listeners(motor_id, line_baud):
                        replies.append((servo, 0, servo.read_bytes(address, size)))
        else:
            self.stats.writes += ins.code == WRITE
            for servo in self._listeners(ins.motor_id, line_baud):
                replies.append(self._execute(servo, ins))
        out = []
        for servo, error, data in replies:
            if servo.responding and self._replies_to(servo, ins):
                packet = self._status(servo, error, data)
                if packet is not None:
                    out.append((servo, packet))
        return out

    def _execute(self, servo: EmulatedServo, ins: Instruction) -> tuple[EmulatedServo, int, bytes]:
        width, params = self.wire.address_size, ins.params
        if ins.code == PING:  # Dynamixel answers with model number and firmware; Feetech with nothing
            if self.protocol == FEETECH:
                return servo, 0, b''
            return servo, 0, servo.model.number.to_bytes(2, 'little') + bytes([servo.get('Firmware_Version')])
        if ins.code == READ and len(params) == 2 * width:
            address = int.from_bytes(params[:width], 'little')
            return servo, 0, servo.read_bytes(address, int.from_bytes(params[width:], 'little'))
        if ins.code == WRITE and len(params) > width:
            refused = not servo.write_bytes(int.from_bytes(params[:width], 'little'), params[width:])
            return servo, DXL_ACCESS_ERROR if refused and self.protocol == DYNAMIXEL else 0, b''
        return servo, DXL_INSTRUCTION_ERROR if self.protocol == DYNAMIXEL else 0, b''

    def _replies_to(self, servo: EmulatedServo, ins: Instruction) -> bool:
        if ins.code == PING:
            return True
        if ins.motor_id == BROADCAST_ID and ins.code != SYNC_READ:
            return False
        if self.protocol == FEETECH:  # instructions not emulated (REG_WRITE, ACTION, ...) get no reply
            return ins.code in (READ, SYNC_READ) or (ins.code == WRITE and servo.get('Response_Status_Level') >= 1)
        level = servo.get('Status_Return_Level')
        return level >= 2 or (level == 1 and ins.code in (READ, SYNC_READ))

    def _status(self, servo: EmulatedServo, error: int, data: bytes) -> bytes | None:
        """The status packet, or None when fault injection drops it."""
        if self.protocol == FEETECH:
            error |= servo.alarms
        elif servo.alarms:
            error |= DXL_ALERT
        packet = self.wire.status(servo.id, error, data)
        self.stats.replies += 1
        if self._drop:
            self._drop -= 1
            self.stats.dropped += 1
            return None
        if self._corrupt:
            self._corrupt -= 1
            self.stats.corrupted += 1
            return self.wire.corrupt(packet)
        return packet


def _wait_until(deadline: float) -> None:
    """Sleep until `deadline` (time.monotonic); short waits spin instead, keeping the GIL: in-process,
    every GIL hand-back to an SDK that polls the port can cost a whole switch interval (5 ms)."""
    remaining = deadline - time.monotonic()
    if remaining > SPIN_LIMIT:
        time.sleep(remaining - SPIN_LIMIT)
    while time.monotonic() < deadline:
        pass


def parse_ids(text: str) -> list[int]:
    """'1..6' or '1,2,5' or '1..3,7' -> ids."""
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(','))):
        low, sep, high = part.partition('..')
        ids.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    if not ids or len(set(ids)) != len(ids) or not all(0 <= i <= 252 for i in ids):
        raise ValueError(f'ids must be distinct values in 0..252, got {text!r}')
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m dojo_core.motors.emulator', description=__doc__.split('\n')[0])
    parser.add_argument('--protocol', choices=PROTOCOLS, default=FEETECH)
    parser.add_argument('--ids', type=parse_ids, default=parse_ids('1..6'), help="servo ids, e.g. '1..6' or '1,2,5'")
    parser.add_argument('--model', default=None, help='servo model of every servo (default: sts3215 / xl430-w250)')
    parser.add_argument('--baudrate', type=int, default=1_000_000)
    parser.add_argument('--link', required=True, help='symlink to create to the pty (the port other processes open)')
    parser.add_argument('--no-realtime', dest='realtime', action='store_false', help='reply without wire timing')
    args = parser.parse_args(argv)
    emulator = BusEmulator(args.protocol, args.ids, model=args.model, baudrate=args.baudrate, link=args.link,
                           realtime=args.realtime)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: emulator.unplug())
    signal.signal(signal.SIGUSR2, lambda *_: emulator.replug())
    with emulator:
        print(f'{args.protocol} servos {args.ids} on {emulator.port}', flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
