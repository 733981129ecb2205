// A 16550A UART (the PC's COM1 at 0x3f8, IRQ 4): what Linux's 8250 driver and
// earlyprintk need. Output goes to a CharBackend at once (no baud-rate pacing); input
// waits in a receive buffer and raises the receive interrupt.
#pragma once

#include <deque>
#include <mutex>

#include "BusDevice.h"
#include "CharBackend.h"

namespace mica {

class Serial8250 : public BusDevice {
public:
    Serial8250(IrqLine irq, CharBackend* backend);
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;
    // Bytes from the backend (the devices thread).
    void receive(std::span<const uint8_t> bytes);
    struct Counters {
        uint64_t txBytes, rxBytes;
    };
    Counters counters();

private:
    uint8_t readRegister(uint8_t reg);
    void writeRegister(uint8_t reg, uint8_t value);
    uint8_t interruptId() const;
    void updateIrq();
    void transmit(uint8_t byte);

    IrqLine irq_;
    CharBackend* backend_;
    std::mutex mutex_;
    std::deque<uint8_t> rx_;
    uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
    uint8_t dll_ = 0x0c, dlm_ = 0;   // 9600 baud until the guest says otherwise
    bool thrInterrupt_ = false;      // "transmitter empty" pending until IIR read or THR write
    bool irqLevel_ = false;
    Counters counters_{0, 0};
};

}  // namespace mica
