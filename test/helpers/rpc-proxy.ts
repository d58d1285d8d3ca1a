import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

interface RpcCall {
  id: unknown
  method: string
  params?: unknown[]
}

export interface ProxyOptions {
  /** Forward the first N eth_sendRawTransaction calls, then cut the connection before answering. */
  dropSendResponses?: number
  /** Refuse eth_getLogs wider than this many blocks, as hosted providers do. */
  maxLogRange?: number
  /** Accept connections and never answer. */
  hang?: boolean
}

/**
 * A loopback JSON-RPC proxy in front of a real node, to produce the failures a real node does not:
 * a response lost after the node accepted a transaction, a capped eth_getLogs range, a hang.
 */
export class RpcProxy {
  readonly calls: RpcCall[] = []
  readonly logRanges: number[] = []
  private server?: Server
  private dropsLeft: number

  constructor(
    private readonly upstream: string,
    private readonly options: ProxyOptions = {},
  ) {
    this.dropsLeft = options.dropSendResponses ?? 0
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
  }

  count(method: string): number {
    return this.calls.filter((c) => c.method === method).length
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    if (this.options.hang) return
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RpcCall | RpcCall[]
    const calls = Array.isArray(body) ? body : [body]
    this.calls.push(...calls)
    const max = this.options.maxLogRange
    if (max !== undefined) {
      for (const call of calls.filter((c) => c.method === 'eth_getLogs')) {
        const filter = (call.params?.[0] ?? {}) as {fromBlock?: string; toBlock?: string}
        const width = Number(BigInt(filter.toBlock ?? '0x0') - BigInt(filter.fromBlock ?? '0x0')) + 1
        this.logRanges.push(width)
        if (width > max) {
          const refused = calls.map((c) => ({
            jsonrpc: '2.0',
            id: c.id,
            error: {code: -32005, message: `query exceeds max block range ${max}`},
          }))
          res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(Array.isArray(body) ? refused : refused[0]))
          return
        }
      }
    }
    const upstream = await fetch(this.upstream, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
    const text = await upstream.text()
    if (this.dropsLeft > 0 && calls.some((c) => c.method === 'eth_sendRawTransaction')) {
      this.dropsLeft--
      req.socket.destroy()
      return
    }
    res.writeHead(upstream.status, {'content-type': 'application/json'}).end(text)
  }
}
