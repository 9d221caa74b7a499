import ApusAPI
public import Hummingbird
public import NIOCore

/// The request context of every API route: Hummingbird's core storage plus the connection, from which the audit log
/// reads the caller's uid and pid (SO_PEERCRED).
public struct DaemonRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies above this answer 413; documented in docs/openapi.yaml.
    public var maxUploadSize: Int { ApusVersion.maximumRequestBodyBytes }
}
