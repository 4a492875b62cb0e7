"""The bus emulator spoken to by the vendors' real SDKs: packets, checksums/CRC, encodings, motion, faults.

Register addresses are written out as literals here (from the Feetech STS and ROBOTIS X-series
control tables) so that the shared table in dojo_core.motors.tables is checked, not assumed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
import time

import dynamixel_sdk as dxl
import pytest
import scservo_sdk as scs
import serial

from dojo_core.motors.emulator import BusEmulator, DynamixelWire, parse_ids


@pytest.fixture(autouse=True)
def generous_timeouts(monkeypatch):
    """The SDKs' own knob for the USB adapter latency (16 ms): more room for a loaded CI host."""
    monkeypatch.setattr(scs.port_handler, 'LATENCY_TIMER', 50)
    monkeypatch.setattr(dxl.port_handler, 'LATENCY_TIMER', 50)


def open_port(sdk, path: str, baudrate: int = 1_000_000):
    port = sdk.PortHandler(path)
    assert port.setBaudRate(baudrate)
    return port


@pytest.fixture
def feetech():
    with BusEmulator('feetech', range(1, 7)) as emulator:
        port = open_port(scs, emulator.port)
        yield emulator, port, scs.PacketHandler(0)
        port.closePort()


@pytest.fixture
def dynamixel():
    with BusEmulator('dynamixel', range(1, 7)) as emulator:
        port = open_port(dxl, emulator.port)
        yield emulator, port, dxl.PacketHandler(2.0)
        port.closePort()


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_feetech_ping_reports_the_sts3215_model_and_absent_ids_time_out(feetech):
    emulator, port, packets = feetech
    assert packets.ping(port, 4) == (777, scs.COMM_SUCCESS, 0)
    assert packets.ping(port, 9)[1] == scs.COMM_RX_TIMEOUT


def test_feetech_sign_magnitude_registers_on_the_wire(feetech):
    emulator, port, packets = feetech
    # Homing_Offset (31) has its sign in bit 11: -100 travels as 0x800 | 100.
    assert packets.write2ByteTxRx(port, 2, 31, scs.SCS_TOSCS(-100, 11)) == (scs.COMM_SUCCESS, 0)
    assert emulator.servo(2).raw(31, 2) == 0x800 | 100
    assert emulator.servo(2).get('Homing_Offset') == -100
    # Feetech: Present_Position (56) = encoder - offset = 2048 + 100.
    assert packets.read2ByteTxRx(port, 2, 56) == (2148, scs.COMM_SUCCESS, 0)
    # Present_Velocity (58) carries its sign in bit 15: moving toward a lower goal reads 0x8000 | speed.
    assert packets.write2ByteTxRx(port, 5, 42, 1000)[0] == scs.COMM_SUCCESS
    assert packets.write1ByteTxRx(port, 5, 40, 1)[0] == scs.COMM_SUCCESS
    time.sleep(0.02)
    word, result, _ = packets.read2ByteTxRx(port, 5, 58)
    assert result == scs.COMM_SUCCESS and word & 0x8000 and scs.SCS_TOHOST(word, 15) < -100


def test_feetech_sync_write_and_sync_read_of_six_servos(feetech):
    emulator, port, packets = feetech
    writer = scs.GroupSyncWrite(port, packets, 42, 2)
    for motor_id in range(1, 7):
        writer.addParam(motor_id, [scs.SCS_LOBYTE(1000 + motor_id), scs.SCS_HIBYTE(1000 + motor_id)])
    assert writer.txPacket() == scs.COMM_SUCCESS
    assert wait_for(lambda: all(emulator.servo(i).raw(42, 2) == 1000 + i for i in range(1, 7)))
    reader = scs.GroupSyncRead(port, packets, 40, 4)  # Torque_Enable, Acceleration, Goal_Position
    for motor_id in range(1, 7):
        reader.addParam(motor_id)
    assert reader.txRxPacket() == scs.COMM_SUCCESS
    assert [reader.getData(i, 42, 2) for i in range(1, 7)] == [1000 + i for i in range(1, 7)]
    assert [reader.getData(i, 40, 1) for i in range(1, 7)] == [0] * 6


def test_feetech_corrupt_checksum_is_rejected_by_the_sdk(feetech):
    emulator, port, packets = feetech
    emulator.corrupt_replies(1)
    assert packets.read2ByteTxRx(port, 1, 56)[1] == scs.COMM_RX_CORRUPT
    assert emulator.stats.corrupted == 1
    time.sleep(0.01)
    assert packets.read2ByteTxRx(port, 1, 56) == (2048, scs.COMM_SUCCESS, 0)


def test_instruction_with_bad_checksum_is_ignored_like_on_a_real_servo(feetech):
    emulator, port, packets = feetech
    good = bytes([0xFF, 0xFF, 1, 4, 0x03, 40, 1])  # WRITE Torque_Enable = 1 to id 1
    bad = good + bytes([(~sum(good[2:]) + 1) & 0xFF])
    port.writePort(bad)
    assert wait_for(lambda: emulator.stats.bad_packets == 1)
    assert emulator.servo(1).get('Torque_Enable') == 0
    port.writePort(good + bytes([~sum(good[2:]) & 0xFF]))
    assert wait_for(lambda: emulator.servo(1).get('Torque_Enable') == 1)


def test_first_order_motion_toward_the_goal_only_with_torque_on(feetech):
    emulator, port, packets = feetech
    assert packets.write2ByteTxRx(port, 3, 42, 3000)[0] == scs.COMM_SUCCESS
    time.sleep(0.1)
    assert packets.read2ByteTxRx(port, 3, 56)[0] == 2048  # torque off: the goal is only stored
    assert packets.write1ByteTxRx(port, 3, 40, 1)[0] == scs.COMM_SUCCESS
    seen = []
    while len(seen) < 200 and (not seen or seen[-1] != 3000):
        seen.append(packets.read2ByteTxRx(port, 3, 56)[0])
        time.sleep(0.005)
    assert seen[-1] == 3000 and len(set(seen)) > 3  # it travelled, through intermediate positions
    assert seen == sorted(seen)


def test_a_servo_on_another_baud_rate_does_not_answer(feetech):
    emulator, port, packets = feetech
    slow = open_port(scs, emulator.port, 500_000)
    try:
        assert packets.ping(slow, 1)[1] == scs.COMM_RX_TIMEOUT
        assert emulator.stats.baud_mismatches >= 1
    finally:
        slow.closePort()


def test_silent_servo_and_dropped_replies(feetech):
    emulator, port, packets = feetech
    emulator.servo(2).responding = False
    assert packets.ping(port, 2)[1] == scs.COMM_RX_TIMEOUT
    emulator.servo(2).responding = True
    emulator.drop_replies(1)
    assert packets.ping(port, 2)[1] == scs.COMM_RX_TIMEOUT
    assert packets.ping(port, 2)[0] == 777


def test_dynamixel_ping_broadcast_ping_and_twos_complement(dynamixel):
    emulator, port, packets = dynamixel
    assert packets.ping(port, 3) == (1060, dxl.COMM_SUCCESS, 0)
    found, result = packets.broadcastPing(port)
    assert result == dxl.COMM_SUCCESS and sorted(found) == list(range(1, 7))
    assert found[1][0] == 1060
    # Homing_Offset (20, 4 bytes) is two's complement; Present_Position (132) = encoder + offset.
    assert packets.write4ByteTxRx(port, 4, 20, (-300) & 0xFFFFFFFF) == (dxl.COMM_SUCCESS, 0)
    assert emulator.servo(4).get('Homing_Offset') == -300
    assert packets.read4ByteTxRx(port, 4, 132)[0] == 2048 - 300


def test_dynamixel_byte_stuffing_both_ways(dynamixel):
    emulator, port, packets = dynamixel
    value = 0x00FDFFFF  # little-endian FF FF FD 00: stuffed in the instruction and in the status
    assert packets.write4ByteTxRx(port, 2, 116, value) == (dxl.COMM_SUCCESS, 0)
    assert emulator.servo(2).raw(116, 4) == value
    assert packets.read4ByteTxRx(port, 2, 116) == (value, dxl.COMM_SUCCESS, 0)
    assert DynamixelWire.unstuff(DynamixelWire.stuff(b'\xff\xff\xfd\xfd\x01')) == b'\xff\xff\xfd\xfd\x01'


def test_dynamixel_sync_read_write_crc_and_access_errors(dynamixel):
    emulator, port, packets = dynamixel
    writer = dxl.GroupSyncWrite(port, packets, 116, 4)
    for motor_id in range(1, 7):
        writer.addParam(motor_id, list((500 * motor_id).to_bytes(4, 'little')))
    assert writer.txPacket() == dxl.COMM_SUCCESS
    reader = dxl.GroupSyncRead(port, packets, 116, 4)
    for motor_id in range(1, 7):
        reader.addParam(motor_id)
    assert wait_for(lambda: reader.txRxPacket() == dxl.COMM_SUCCESS
                    and [reader.getData(i, 116, 4) for i in range(1, 7)] == [500 * i for i in range(1, 7)])
    emulator.corrupt_replies(1)
    assert reader.txRxPacket() == dxl.COMM_RX_CORRUPT
    # EEPROM (below 64) is locked while torque is on: access error 7, value unchanged.
    assert packets.write1ByteTxRx(port, 1, 64, 1) == (dxl.COMM_SUCCESS, 0)
    assert packets.write4ByteTxRx(port, 1, 48, 3000) == (dxl.COMM_SUCCESS, 7)
    assert emulator.servo(1).get('Max_Position_Limit') == 4095


def test_emulator_subprocess_behind_a_symlink_unplugs_and_replugs(tmp_path):
    link = tmp_path / 'ttyARM'
    process = subprocess.Popen([sys.executable, '-m', 'dojo_core.motors.emulator', '--protocol', 'dynamixel',
                                '--ids', '1..3', '--link', str(link)], stdout=subprocess.PIPE, text=True)
    try:
        assert str(link) in process.stdout.readline()
        packets = dxl.PacketHandler(2.0)
        port = open_port(dxl, str(link))
        assert packets.ping(port, 3)[0] == 1060
        process.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: not os.path.lexists(link))
        with pytest.raises((serial.SerialException, termios.error)):
            packets.ping(port, 3)
        port.closePort()
        process.send_signal(signal.SIGUSR2)
        assert wait_for(lambda: link.exists())
        port = open_port(dxl, str(link))
        assert packets.ping(port, 1)[0] == 1060
        port.closePort()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    assert not os.path.lexists(link)


def test_id_lists():
    assert parse_ids('1..3,7') == [1, 2, 3, 7]
    with pytest.raises(ValueError):
        parse_ids('1,1')
