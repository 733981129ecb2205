// libFuzzer target: VhdImage on hostile files (FuzzImage.h says how an input describes
// one). Seeds (vhd-corpus/) are qemu-img's fixed and dynamic images, from make-vhd-seeds.
#include "FuzzImage.h"
#include "VhdImage.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return fuzz::run<mica::block::VhdImage>(data, size);
}
