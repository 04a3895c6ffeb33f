/** builder/'s face: create-image. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { createImage } from "./create-image.js";
