// The little of Node and jsdom the view host (view_host.ts) uses, typed here: the project installs
// neither @types/node nor @types/jsdom.
declare module "jsdom" {
  export class VirtualConsole {
    on(event: "jsdomError", listener: (err: Error) => void): this;
  }
  export interface JSDOMOptions {
    pretendToBeVisual?: boolean;
    url?: string;
    virtualConsole?: VirtualConsole;
  }
  export class JSDOM {
    constructor(html: string, options?: JSDOMOptions);
    readonly window: Window;
  }
}

declare module "node:readline" {
  export function createInterface(options: { input: unknown }): AsyncIterable<string>;
}
