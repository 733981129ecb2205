#include "AcpiGed.h"

#include <algorithm>

namespace mica {

void AcpiGed::notify(uint8_t bits)
{
    {
        std::lock_guard lock(mutex_);
        pending_ |= bits;
    }
    // Edge triggered (the _CRS says so): a pulse is one event, and bits set while the
    // guest's handler runs are seen by its read, or by the next pulse's.
    irq_(true);
    irq_(false);
}

void AcpiGed::read(uint64_t offset, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), 0);
    if (offset != 0 || data.size() != 1)
        return;
    std::lock_guard lock(mutex_);
    data[0] = pending_;
    pending_ = 0;
}

}  // namespace mica
