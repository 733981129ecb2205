// A 16550A UART with the TI16750's 64-byte FIFO mode (the PC's COM1 at 0x3f8, IRQ 4):
// what Linux's 8250 driver and earlyprintk need. Linux finds a 16750 and then loads 64
// bytes per "transmitter empty" interrupt instead of 16, so a guest's output costs a
// quarter of the exits (three register reads per load). Writes to the data register may come in bursts through KVM's
// coalesced ring (VirtualMachine), so a FIFO load costs no VM exit. Output goes to a
// CharBackend at once (no baud-rate pacing) while the backend takes it; when the
// backend holds output for a slow reader, the transmitter stays busy (LSR.THRE and
// TEMT clear, no "transmitter empty" interrupt) until it has gone out, so a guest
// driver waits instead of its bytes being lost. Input waits in a receive buffer and
// raises the receive interrupt.
#pragma once

#include <deque>
#include <mutex>
#include <vector>

#include "BusDevice.h"
#include "Component.h"
#include "CharBackend.h"

namespace mica {

class Serial8250 : public BusDevice, public Component {
public:
    Serial8250(IrqLine irq, CharBackend* backend);
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;
    // A FIFO load from KVM's coalesced ring goes to the backend in one piece.
    void writeEach(uint64_t offset, std::span<const uint8_t> bytes) override;
    // Bytes from the backend (the devices thread).
    void receive(std::span<const uint8_t> bytes);
    // The backend's waiting output has all gone out (the devices thread): the transmitter
    // is empty again, which raises "transmitter empty" for a guest that waited for it.
    void transmitterReady();
    // The guest waits for "transmitter empty" interrupts (IER.THRI): it is sending.
    bool sending();
    struct Counters {
        uint64_t txBytes, rxBytes;
    };
    Counters counters();
    // Paused, input still queues but raises no interrupt until resume().
    void pause() override;
    void resume() override;
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;

private:
    uint8_t readRegister(uint8_t reg);
    void writeRegister(uint8_t reg, uint8_t value);
    uint8_t interruptId() const;
    void updateIrq();
    void transmit(uint8_t byte);   // queues the byte for flushTransmit()
    void flushTransmit();           // at the end of each access: out to the backend
    bool transmitterBusy();  // the backend holds output for a slow reader

    IrqLine irq_;
    CharBackend* backend_;
    std::mutex mutex_;
    std::deque<uint8_t> rx_;
    uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
    uint8_t dll_ = 0x0c, dlm_ = 0;   // 9600 baud until the guest says otherwise
    bool thrInterrupt_ = false;      // "transmitter empty" pending until IIR read or THR write
    bool txWaiting_ = false;         // the transmitter was seen busy: transmitterReady() raises THRE
    bool irqLevel_ = false;
    bool paused_ = false;
    Counters counters_{0, 0};
    std::vector<uint8_t> txBatch_;   // what this access wrote to THR
};

}  // namespace mica
