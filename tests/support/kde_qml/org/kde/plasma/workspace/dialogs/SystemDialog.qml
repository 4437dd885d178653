// A stand-in for plasma-workspace's SystemDialog (the frame of xdg-desktop-portal-kde 5.27's
// dialogs), for the headless KDE test session only: plasma-workspace is ~220 packages, and
// xdg-desktop-portal-kde crashes on a Screenshot call when its (unshown, for a non-interactive
// screenshot) dialog cannot load. Only what ScreenshotDialog.qml uses of it is here; the
// picture itself comes from KWin, untouched. Nothing of this is shown to anyone.
import QtQuick 2.15
import QtQuick.Window 2.15
import QtQuick.Controls 2.15 as QQC2

Window {
    id: root
    property string iconName
    property bool acceptable: true
    property alias standardButtons: dialogButtonBox.standardButtons
    property alias dialogButtonBox: dialogButtonBox
    property list<QtObject> actions
    default property alias content: body.data
    signal accept()
    signal reject()
    function present() { }
    width: 10
    height: 10
    Item { id: body }
    QQC2.DialogButtonBox { id: dialogButtonBox }
}
