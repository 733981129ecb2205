#include "Serial8250.h"

#include "StateJson.h"

namespace mica {

namespace {
// What a snapshot keeps of the UART: every register, the pending interrupt and line, the
// input the guest has not read.
struct SerialState {
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_interrupt, tx_waiting, irq_level;
    std::vector<uint8_t> rx;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SerialState, ier, lcr, mcr, scr, fcr, dll, dlm, thr_interrupt, tx_waiting, irq_level, rx)
}  // namespace

namespace {
// Register offsets and bits of the 16550A.
constexpr uint8_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kIerRx = 0x01, kIerThr = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThr = 0x02, kIirRx = 0x04, kIirFifo = 0xc0, kIirFifo64 = 0x20;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrFifo64 = 0x20;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10, kMcrOut2 = 0x08;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrIdle = 0x40;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrDcd = 0x80;
// Input a guest does not read piles up here; beyond this it is dropped.
constexpr size_t kRxLimit = 64 * 1024;
}  // namespace

Serial8250::Serial8250(IrqLine irq, CharBackend* backend) : irq_(std::move(irq)), backend_(backend) {}

void Serial8250::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (auto& byte : data)
        byte = readRegister(static_cast<uint8_t>(offset));
    updateIrq();
}

void Serial8250::write(uint64_t offset, std::span<const uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (uint8_t byte : data)
        writeRegister(static_cast<uint8_t>(offset), byte);
    flushTransmit();
    updateIrq();
}

void Serial8250::writeEach(uint64_t offset, std::span<const uint8_t> bytes)
{
    write(offset, bytes);   // write() already takes each byte as an access of its own
}

void Serial8250::receive(std::span<const uint8_t> bytes)
{
    std::lock_guard lock(mutex_);
    for (uint8_t byte : bytes) {
        if (rx_.size() < kRxLimit) {
            rx_.push_back(byte);
            ++counters_.rxBytes;
        }
    }
    updateIrq();
}

void Serial8250::transmitterReady()
{
    std::lock_guard lock(mutex_);
    // Checked again: a vCPU may have filled the backend since it drained (then its next
    // drain comes here too).
    if (txWaiting_ && !transmitterBusy()) {
        txWaiting_ = false;
        thrInterrupt_ = true;
        updateIrq();
    }
}

bool Serial8250::sending()
{
    std::lock_guard lock(mutex_);
    return ier_ & kIerThr;
}

bool Serial8250::transmitterBusy()
{
    return backend_ && backend_->busy();
}

Serial8250::Counters Serial8250::counters()
{
    std::lock_guard lock(mutex_);
    return counters_;
}

uint8_t Serial8250::interruptId() const
{
    if ((ier_ & kIerRx) && !rx_.empty())
        return kIirRx;
    if ((ier_ & kIerThr) && thrInterrupt_)
        return kIirThr;
    return kIirNone;
}

uint8_t Serial8250::readRegister(uint8_t reg)
{
    switch (reg) {
    case kData:
        if (lcr_ & kLcrDlab)
            return dll_;
        if (rx_.empty())
            return 0;
        {
            uint8_t byte = rx_.front();
            rx_.pop_front();
            return byte;
        }
    case kIer:
        return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIir: {
        uint8_t id = interruptId();
        if (id == kIirThr)
            thrInterrupt_ = false;  // reading IIR acknowledges "transmitter empty"
        if (!(fcr_ & kFcrEnable))
            return id;
        return id | kIirFifo | ((fcr_ & kFcrFifo64) ? kIirFifo64 : 0);
    }
    case kLcr:
        return lcr_;
    case kMcr:
        return mcr_;
    case kLsr:
        // THRE and TEMT clear while the backend holds output for a slow reader: Linux's
        // console and its FIFO refill wait for them.
        return (rx_.empty() ? 0 : kLsrDataReady) | (transmitterBusy() ? 0 : kLsrThrEmpty | kLsrIdle);
    case kMsr:
        if (mcr_ & kMcrLoop)  // loopback: outputs feed the status inputs
            return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x0c) << 4));
        return kMsrCts | kMsrDsr | kMsrDcd;
    case kScr:
        return scr_;
    }
    return 0xff;
}

void Serial8250::writeRegister(uint8_t reg, uint8_t value)
{
    switch (reg) {
    case kData:
        if (lcr_ & kLcrDlab) {
            dll_ = value;
        } else {
            transmit(value);
        }
        break;
    case kIer:
        if (lcr_ & kLcrDlab) {
            dlm_ = value;
        } else {
            // Enabling the THR interrupt with the transmitter empty raises it at once;
            // with the transmitter busy, when it empties (transmitterReady()).
            if (!(ier_ & kIerThr) && (value & kIerThr)) {
                thrInterrupt_ = !transmitterBusy();
                txWaiting_ = !thrInterrupt_;
            }
            ier_ = value & 0x0f;
        }
        break;
    case kIir:  // FCR
        // The TI16750's 64-byte FIFO: set only while DLAB is, cleared by any FCR write
        // without it (as Linux's 8250 driver detects and programs it).
        fcr_ = (lcr_ & kLcrDlab) ? value : static_cast<uint8_t>(value & ~kFcrFifo64);
        if (value & kFcrClearRx)
            rx_.clear();
        break;
    case kLcr:
        lcr_ = value;
        break;
    case kMcr:
        mcr_ = value & 0x1f;
        break;
    case kScr:
        scr_ = value;
        break;
    default:
        break;  // LSR and MSR are read-only
    }
}

void Serial8250::transmit(uint8_t byte)
{
    if (mcr_ & kMcrLoop) {
        if (rx_.size() < kRxLimit)
            rx_.push_back(byte);
        thrInterrupt_ = true;
        return;
    }
    txBatch_.push_back(byte);
}

void Serial8250::flushTransmit()
{
    if (txBatch_.empty())
        return;
    if (backend_) {
        // Taken even while the transmitter is busy: a driver that writes without waiting
        // for THRE (Linux's console after 10 ms of polling LSR, or its FIFO refill) loses
        // nothing; the backend keeps it behind what waits.
        backend_->write(txBatch_);
        counters_.txBytes += txBatch_.size();
    }
    txBatch_.clear();
    // Sent at once, the holding register is empty again; unless the backend holds output
    // for a slow reader: then "transmitter empty" waits for transmitterReady().
    thrInterrupt_ = !transmitterBusy();
    txWaiting_ = !thrInterrupt_;
}

// The line follows "an enabled interrupt is pending" (gated by OUT2, as PCs wire it),
// so every new pending interrupt is a rising edge for the edge-triggered ISA pin.
void Serial8250::pause()
{
    std::lock_guard lock(mutex_);
    paused_ = true;
}

void Serial8250::resume()
{
    std::lock_guard lock(mutex_);
    paused_ = false;
    updateIrq();
}

nlohmann::json Serial8250::save()
{
    std::lock_guard lock(mutex_);
    return SerialState{ier_, lcr_, mcr_, scr_, fcr_, dll_, dlm_, thrInterrupt_, txWaiting_, irqLevel_, {rx_.begin(), rx_.end()}};
}

void Serial8250::restore(const nlohmann::json& state)
{
    auto s = readState<SerialState>(state, "serial");
    if (s.rx.size() > kRxLimit)
        throw StateError("serial: " + std::to_string(s.rx.size()) + " bytes of input, more than the UART keeps");
    std::lock_guard lock(mutex_);
    ier_ = s.ier & 0x0f, lcr_ = s.lcr, mcr_ = s.mcr & 0x1f, scr_ = s.scr, fcr_ = s.fcr, dll_ = s.dll, dlm_ = s.dlm;
    thrInterrupt_ = s.thr_interrupt, txWaiting_ = s.tx_waiting, irqLevel_ = s.irq_level;
    rx_.assign(s.rx.begin(), s.rx.end());
}

void Serial8250::updateIrq()
{
    if (paused_)
        return;
    bool level = interruptId() != kIirNone && (mcr_ & kMcrOut2);
    if (level != irqLevel_) {
        irqLevel_ = level;
        irq_(level);
    }
}

}  // namespace mica
