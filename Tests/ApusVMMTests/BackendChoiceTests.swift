import ApusVMM
import Testing

/// `auto` picks KVM when it can run the guest, and the software CPU for a kernel when KVM would only emulate it.
@Suite struct BackendChoiceTests {
    @Test func autoWithoutKVMIsTheSoftwareCPUWithoutANote() throws {
        for kernel in [false, true] {
            let resolution = try BackendChoice.auto.resolve(kvmDevicePath: "/nonexistent/kvm", runsGuestKernel: kernel,
                                                            hardwareAssisted: false)
            #expect(resolution.hypervisor.name == "soft")
            #expect(resolution.note == nil)
        }
    }

    @Test func autoSendsAKernelToTheSoftwareCPUWhenKVMWouldEmulateIt() throws {
        guard Backends.usable(for: "auto backend choice").contains(.kvm) else { return }
        let kernel = try BackendChoice.auto.resolve(runsGuestKernel: true, hardwareAssisted: false)
        #expect(kernel.hypervisor.name == "soft")
        #expect(kernel.note?.contains("--backend kvm") == true)
        // Small guests stay on KVM (their CPL0 stretches are short), and so does a kernel on VT-x or AMD-V.
        #expect(try BackendChoice.auto.resolve(runsGuestKernel: false, hardwareAssisted: false).hypervisor.name == "kvm")
        let assisted = try BackendChoice.auto.resolve(runsGuestKernel: true, hardwareAssisted: true)
        #expect(assisted.hypervisor.name == "kvm")
        #expect(assisted.note == nil)
    }

    @Test func explicitChoicesAreObeyed() throws {
        #expect(try BackendChoice.soft.resolve(runsGuestKernel: true, hardwareAssisted: true).hypervisor.name == "soft")
        #expect(throws: VMMError.self) {
            try BackendChoice.kvm.resolve(kvmDevicePath: "/nonexistent/kvm")
        }
        guard Backends.usable(for: "explicit backend choice").contains(.kvm) else { return }
        let forced = try BackendChoice.kvm.resolve(runsGuestKernel: true, hardwareAssisted: false)
        #expect(forced.hypervisor.name == "kvm")
        #expect(forced.note == nil)
    }
}
