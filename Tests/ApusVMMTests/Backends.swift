import ApusCore
import ApusKVM
import ApusVMM

/// The backends a test can run on here. KVM tests print why they skip when /dev/kvm is not usable.
enum Backends {
    static let kvmAvailability = KVMHypervisor().availability()

    /// Every backend usable on this host; prints the reason when KVM is left out.
    static func usable(for test: String) -> [BackendChoice] {
        if case .unusable(let reason) = kvmAvailability {
            print("\(test): skipping the KVM run: \(reason)")
            return [.soft]
        }
        return [.kvm, .soft]
    }
}
