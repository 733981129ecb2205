// <linux/kvm.h> made safe for C++: include this, never <linux/kvm.h> directly.
//
// The UAPI headers declare flexible arrays through __DECLARE_FLEX_ARRAY, an anonymous
// struct holding an empty struct. An empty struct has size 1 in C++ (0 in C), so
// sizeof(kvm_cpuid2) grows from 8 to 12 and every ioctl number derived from it
// (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_SET_MSRS, KVM_SET_GSI_ROUTING, ...)
// differs from the kernel's: the kernel answers EINVAL. A plain zero-length array
// (a GNU extension g++ accepts) restores the C layout.
#pragma once

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

static_assert(sizeof(kvm_cpuid2) == 8, "<linux/kvm.h> was included before KvmHeaders.h");
static_assert(sizeof(kvm_msrs) == 8);
static_assert(sizeof(kvm_msr_list) == 4);
static_assert(sizeof(kvm_irq_routing) == 8);
