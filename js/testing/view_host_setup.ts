// The stand-ins the vitest runs use (setup.ts), as a module the view host can load when it chooses.
import "./setup";

export {};
