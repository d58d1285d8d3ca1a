import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {prepareFile, readAll, readUnixfs, type Block} from '../../src/lib/ipfs/index.js'

/**
 * A Kubo-RPC-compatible server for tests (Kubo's binary cannot be installed here). It speaks the
 * endpoints kubo-rpc-client calls for add, cat, block get, pin add and pin ls, stores blocks made by the same
 * UnixFS importer medctl uses, and can inject faults to exercise timeouts and retries.
 */
export class KuboMock {
  readonly blocks = new Map<string, Uint8Array>()
  readonly pins = new Set<string>()
  readonly requests: string[] = []
  private failures: Array<'500' | 'drop' | 'hang'> = []
  private server?: Server
  url = ''

  /** The next `count` requests fail this way (500, dropped connection, or no answer). */
  failNext(count: number, how: '500' | 'drop' | 'hang' = '500'): void {
    for (let i = 0; i < count; i++) this.failures.push(how)
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        res.writeHead(500, {'content-type': 'application/json'})
        res.end(JSON.stringify({Message: error.message, Code: 0, Type: 'error'}))
      })
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    const address = this.server.address()
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    return this.url
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const endpoint = url.pathname.replace(/^\/api\/v0\//, '')
    this.requests.push(endpoint)
    const failure = this.failures.shift()
    if (failure === 'drop') {
      req.socket.destroy()
      return
    }
    if (failure === 'hang') return
    if (failure === '500') {
      res.writeHead(500, {'content-type': 'application/json'})
      res.end(JSON.stringify({Message: 'injected failure', Code: 0, Type: 'error'}))
      return
    }
    const body = await readAll(req as AsyncIterable<Uint8Array>)
    const arg = url.searchParams.get('arg') ?? ''
    switch (endpoint) {
      case 'add': {
        if (
          url.searchParams.get('cid-version') !== '1' ||
          url.searchParams.get('raw-leaves') !== 'true' ||
          url.searchParams.get('chunker') !== 'size-262144'
        ) {
          throw new Error('medctl must add with cid-version=1, raw-leaves=true, chunker=size-262144')
        }
        const content = filePart(body, req.headers['content-type'] ?? '')
        const prepared = await prepareFile(content)
        for (const block of prepared.blocks) this.blocks.set(block.cid, block.bytes)
        if (url.searchParams.get('pin') === 'true') this.pins.add(prepared.cid)
        res.writeHead(200, {'content-type': 'application/x-ndjson'})
        res.end(`${JSON.stringify({Name: prepared.cid, Hash: prepared.cid, Size: String(sizeOf(prepared.blocks))})}\n`)
        return
      }
      case 'cat': {
        const bytes = await readAll(readUnixfs(arg, async (cid) => this.blocks.get(cid)))
        res.writeHead(200, {'content-type': 'application/octet-stream'})
        res.end(bytes)
        return
      }
      case 'block/get': {
        const block = this.blocks.get(arg)
        if (!block) throw new Error(`block ${arg} not found`)
        res.writeHead(200, {'content-type': 'application/octet-stream'})
        res.end(block)
        return
      }
      case 'pin/add': {
        if (!this.blocks.has(arg)) throw new Error(`block ${arg} not found`)
        this.pins.add(arg)
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(`${JSON.stringify({Pins: [arg]})}\n`)
        return
      }
      case 'pin/ls': {
        if (!this.pins.has(arg)) throw new Error(`path '${arg}' is not pinned`)
        res.writeHead(200, {'content-type': 'application/x-ndjson'})
        res.end(`${JSON.stringify({Cid: arg, Type: 'recursive'})}\n`)
        return
      }
      default:
        res.writeHead(404, {'content-type': 'text/plain'})
        res.end('404 page not found')
    }
  }
}

function sizeOf(blocks: Block[]): number {
  return blocks.reduce((sum, b) => sum + b.bytes.length, 0)
}

/** The content of the first part of a multipart/form-data body. */
function filePart(body: Buffer, contentType: string): Buffer {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1]
  if (!boundary) throw new Error('no multipart boundary')
  const delimiter = Buffer.from(`--${boundary}`)
  const start = body.indexOf(delimiter)
  const headerEnd = body.indexOf('\r\n\r\n', start)
  const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd)
  return body.subarray(headerEnd + 4, end)
}
