/**
 * Follows the MQTT framing of a byte stream (fixed header: type byte + variable-length "remaining length",
 * then the body) and reports the first packet announcing more than `maxPacketBytes`, from its header alone.
 */
export class PacketSizeScanner {
  private phase: 'type' | 'length' | 'body' = 'type';
  private remaining = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Advances over `chunk`; returns the announced size of an oversize packet, else null. */
  scan(chunk: Buffer): number | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.phase = 'type';
      } else if (this.phase === 'type') {
        i++;
        this.phase = 'length';
        this.remaining = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const byte = chunk[i++]!;
        this.remaining += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((byte & 0x80) === 0 || this.lengthBytes === 4) {
          if (this.remaining > this.maxPacketBytes) return this.remaining;
          this.phase = this.remaining === 0 ? 'type' : 'body';
        }
      }
    }
    return null;
  }
}

/** The part of a broker connection's MQTT parser the guard needs: every byte read from the socket goes here. */
export interface PacketParser {
  parse(buf: Buffer): unknown;
}

/**
 * Guards one connection: every chunk read from `socket` is scanned before `parser` sees it, and a packet
 * announcing more than `maxPacketBytes` closes the connection before its body is buffered (so a hostile client
 * cannot make the broker hold megabytes). Nothing is wrapped: the broker reads and writes the socket itself.
 */
export function guardPacketSize(
  parser: PacketParser,
  socket: { destroy(): unknown },
  maxPacketBytes: number,
  onOversize: (announcedBytes: number) => void,
): void {
  const scanner = new PacketSizeScanner(maxPacketBytes);
  const parse = parser.parse.bind(parser);
  let tripped = false;
  parser.parse = (buf: Buffer) => {
    if (tripped) return 0;
    const announced = scanner.scan(buf);
    if (announced === null) return parse(buf);
    tripped = true;
    onOversize(announced);
    socket.destroy();
    return 0;
  };
}
