#if canImport(Glibc)
import Glibc
#endif

/// One file of a disk image's chain, already opened by another process that vetted it (apusd, for its sandboxed
/// workers): the image is built on the descriptor and never opened by path. A chain is handed over in order, the
/// image itself first, then its backing file, that one's backing file, and so on.
public struct HandedOverDiskFile: Sendable, Codable, Equatable {
    /// The path the opener vetted, for messages only.
    public var path: String
    public var descriptor: Int32

    public init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }
}

/// Where a qcow2 image finds its backing file: by the name in its header, or as the next handed-over descriptor.
enum BackingFiles {
    case byName
    case handedOver(ArraySlice<HandedOverDiskFile>)
}

extension HostFile {
    /// A file of its own on a duplicate of `file`'s descriptor (the image closes it; the original stays with the
    /// caller). A writable image needs a descriptor opened for writing.
    convenience init(handedOver file: HandedOverDiskFile, readOnly: Bool) throws(DiskError) {
        let mode = fcntl(file.descriptor, F_GETFL)
        guard mode >= 0 else { throw .system(path: file.path, operation: "use the handed-over descriptor of", errno: errno) }
        if !readOnly && mode & O_ACCMODE != O_RDWR {
            throw .invalidArgument("\(file.path): the handed-over descriptor is not open for writing")
        }
        let duplicate = fcntl(file.descriptor, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else { throw .system(path: file.path, operation: "duplicate", errno: errno) }
        self.init(path: file.path, descriptor: duplicate, readOnly: readOnly)
    }
}

extension DiskImages {
    /// Opens an image on handed-over descriptors (`chain`: the image, then each backing file in order), probing the
    /// format when `format` is nil. A backing file the header asks for and `chain` lacks is an error, and so is a
    /// descriptor left over: the opener vetted exactly this chain.
    public static func open(handedOver chain: [HandedOverDiskFile], format: String? = nil,
                            readOnly: Bool) throws(DiskError) -> any DiskImage {
        guard let first = chain.first else { throw .invalidArgument("no descriptor was handed over for the disk") }
        let file = try HostFile(handedOver: first, readOnly: readOnly)
        let chosen: String
        if let format { chosen = format } else { chosen = try Qcow2Image.probeFormat(file) }
        let image: any DiskImage
        switch chosen {
        case "raw": image = try RawImage(file: file)
        case "qcow2":
            image = try Qcow2Image(file: file, readOnly: readOnly, chain: [], backingFiles: .handedOver(chain.dropFirst()))
        case let other: throw .invalidArgument("disk format \(other) is not supported (raw or qcow2)")
        }
        var depth = 1
        var link: (any DiskImage)? = (image as? Qcow2Image)?.backing
        while let current = link {
            depth += 1
            link = (current as? Qcow2Image)?.backing
        }
        guard depth == chain.count else {
            throw .backingChain(path: first.path,
                                reason: "\(chain.count) files were handed over for a chain of \(depth)")
        }
        return image
    }
}
