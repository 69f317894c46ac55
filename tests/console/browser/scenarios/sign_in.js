// Sign in with a password; the bots page shows the workspace and the role, and fits a phone.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.getByRole("heading", { name: "Bots" }).waitFor();
  await shot(page, args, "bots");
  const role = await page.getByTestId("role").innerText();
  const url = page.url();
  await page.setViewportSize({ width: 390, height: 844 });
  const phoneWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot(page, args, "bots-phone");
  // Keyboard: the first Tab reaches the skip link, which leads to the main content.
  await page.keyboard.press("Tab");
  const firstFocus = await page.evaluate(() => document.activeElement.textContent.trim());
  return { role, url, phoneWidth, firstFocus };
};
