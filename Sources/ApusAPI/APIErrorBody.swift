/// Every error response's JSON body: `{"error": {...}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var status: Int
        /// A stable, machine-readable word: bad-request, not-found, conflict, payload-too-large, internal, ...
        public var code: String
        public var message: String
        /// For 409: the VM's state and what it allows.
        public var state: VMState?
        public var allowedOperations: [VMOperation]?

        public init(status: Int, code: String, message: String, state: VMState? = nil,
                    allowedOperations: [VMOperation]? = nil) {
            self.status = status
            self.code = code
            self.message = message
            self.state = state
            self.allowedOperations = allowedOperations
        }
    }

    public var error: Detail

    public init(error: Detail) { self.error = error }
}
