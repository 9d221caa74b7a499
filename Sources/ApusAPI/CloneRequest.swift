/// The body of `POST /v1/vms/{id}/clone`: the new VM's name. Everything else (memory, vCPUs, backend, boot source)
/// is the template's; each writable disk becomes a copy-on-write overlay of the template's image.
public struct CloneRequest: Sendable, Equatable {
    public var name: String

    public init(name: String) { self.name = name }
}

extension CloneRequest: Codable {
    enum Key: String, CodingKey, CaseIterable { case name }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(Key.allCases.map(\.rawValue)), in: "clone request")
        name = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: .name)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: .name)
    }
}
