// libFuzzer target: VhdxImage on hostile files (FuzzImage.h says how an input describes
// one). Seeds (vhdx-corpus/) are qemu-img's fixed and dynamic images, from make-vhd-seeds.
#include "FuzzImage.h"
#include "VhdxImage.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return fuzz::run<mica::block::VhdxImage>(data, size);
}
