# mica_kvm_usable: whether /dev/kvm here is worth using. Usable means: the device opens
# read-write and the CPU has hardware virtualization behind it. Some sandboxes offer a
# /dev/kvm without VMX/SVM (kvm_pvm, shadow paging only): a stock kernel crawls there,
# so it counts as no /dev/kvm.
mica_kvm_usable() {
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
        grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]
}
