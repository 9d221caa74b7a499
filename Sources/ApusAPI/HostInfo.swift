/// `GET /v1/host`: what this daemon runs VMs on.
public struct HostInfo: Codable, Sendable, Equatable {
    public struct KVM: Codable, Sendable, Equatable {
        public var usable: Bool
        /// Why KVM cannot be used, when it cannot.
        public var reason: String?
        public var apiVersion: Int?
        /// Selected KVM_CHECK_EXTENSION answers, by capability name.
        public var capabilities: [String: Int]

        public init(usable: Bool, reason: String?, apiVersion: Int?, capabilities: [String: Int]) {
            self.usable = usable
            self.reason = reason
            self.apiVersion = apiVersion
            self.capabilities = capabilities
        }
    }

    public var version: String
    /// What a VM with backend "auto" runs on here: "kvm" or "soft".
    public var defaultBackend: String
    public var kvm: KVM
    public var vmCount: Int
    public var stateDirectory: String
    public var pid: Int32

    public init(version: String, defaultBackend: String, kvm: KVM, vmCount: Int, stateDirectory: String, pid: Int32) {
        self.version = version
        self.defaultBackend = defaultBackend
        self.kvm = kvm
        self.vmCount = vmCount
        self.stateDirectory = stateDirectory
        self.pid = pid
    }
}
