// jsdom lacks what uPlot (the chart view) touches when it is imported and when it draws: matchMedia
// (it follows devicePixelRatio changes) and Path2D. Stand-ins that do nothing; tests that look at
// drawing stub the canvas context themselves.
if (typeof window.matchMedia !== "function") {
  window.matchMedia = (query: string): MediaQueryList =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener: () => {},
      removeEventListener: () => {},
      addListener: () => {},
      removeListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

if (typeof globalThis.Path2D !== "function") {
  class Path2DStub {
    addPath(): void {}
    closePath(): void {}
    moveTo(): void {}
    lineTo(): void {}
    bezierCurveTo(): void {}
    quadraticCurveTo(): void {}
    arc(): void {}
    arcTo(): void {}
    ellipse(): void {}
    rect(): void {}
    roundRect(): void {}
  }
  globalThis.Path2D = Path2DStub as unknown as typeof Path2D;
}
