/// `GET /v1/host`: what this daemon runs VMs on.
public struct HostInfo: Codable, Sendable, Equatable {
    public struct KVM: Codable, Sendable, Equatable {
        public var usable: Bool
        /// Why KVM cannot be used, when it cannot.
        public var reason: String?
        public var apiVersion: Int?
        /// Selected KVM_CHECK_EXTENSION answers, by capability name.
        public var capabilities: [String: Int]
        /// Whether the host CPU has VT-x or AMD-V; without it KVM emulates guest kernel code (a software-nested KVM).
        public var hardwareAssisted: Bool?

        public init(usable: Bool, reason: String?, apiVersion: Int?, capabilities: [String: Int],
                    hardwareAssisted: Bool? = nil) {
            self.usable = usable
            self.reason = reason
            self.apiVersion = apiVersion
            self.capabilities = capabilities
            self.hardwareAssisted = hardwareAssisted
        }
    }

    public var version: String
    /// What a VM with backend "auto" runs on here: "kvm" or "soft".
    public var defaultBackend: String
    /// What a VM with backend "auto" that boots a Linux kernel runs on here (soft when KVM would emulate it).
    public var defaultKernelBackend: String?
    public var kvm: KVM
    public var vmCount: Int
    public var stateDirectory: String
    public var pid: Int32

    public init(version: String, defaultBackend: String, defaultKernelBackend: String? = nil, kvm: KVM, vmCount: Int,
                stateDirectory: String, pid: Int32) {
        self.version = version
        self.defaultBackend = defaultBackend
        self.defaultKernelBackend = defaultKernelBackend
        self.kvm = kvm
        self.vmCount = vmCount
        self.stateDirectory = stateDirectory
        self.pid = pid
    }
}
